package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

// partition_time and partition_window_hours in the API; with event, the
// preview and the test send place an event in the folder of its own hour.
func TestMappingAPIPartitionTime(t *testing.T) {
	r := mustMappingRig(t, true)
	now := time.Date(2024, 5, 14, 10, 20, 0, 0, time.UTC)
	r.DB.Now = func() time.Time { return now }
	m := r.mustCreateMapping(t, `{"name": "by hour", "format": "jsonl", "key_preset": "hive", "folder": "logs",
		"partition_time": "event", "partition_window_hours": 24}`)
	if m.PartitionTime != store.PartitionTimeEvent || m.PartitionWindowHours != 24 {
		t.Errorf("created %q %d, want event and 24", m.PartitionTime, m.PartitionWindowHours)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"partition_time": "hourly"}`, "partition_time"},
		{`{"partition_time": "Event"}`, "partition_time"},
		{`{"partition_window_hours": 8761}`, "partition_window_hours"},
		{`{"partition_window_hours": -1}`, "partition_window_hours"},
		{`{"partition_window_hours": "24"}`, "partition_window_hours"},
	} {
		resp, body := r.api(t, http.MethodPatch, "/"+m.ID, tt.body)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest || got.Error.Field != tt.field {
			t.Errorf("PATCH %s = %d %+v, want 400 on %s", tt.body, resp.StatusCode, got.Error, tt.field)
		}
	}

	// Two events of different hours, received now: each in its hour's file.
	early := `{"type": "track", "event": "A", "userId": "u", "messageId": "m-early", "timestamp": "2024-05-14T07:15:00.000Z"}`
	late := `{"type": "track", "event": "B", "userId": "u", "messageId": "m-late", "timestamp": "2024-05-14T08:40:00.000Z"}`
	p := r.mustPreview(t, m.ID, `{"events": [`+early+`, `+late+`]}`)
	if len(p.Objects) != 2 {
		t.Fatalf("preview: %d objects, want one per hour", len(p.Objects))
	}
	folders := map[string]string{}
	for i, o := range p.Objects {
		folder := o.Key[:strings.LastIndex(o.Key, "/")+1]
		if strings.Contains(o.Body, "m-early") {
			folders["early"] = folder
		} else {
			folders["late"] = folder
		}
		if !bytes.HasSuffix(bytesOf(t, p, i), []byte("}\n")) {
			t.Errorf("preview body %q does not end its line", o.Body)
		}
	}
	if want := "raw/logs/dt=2024-05-14/hour=07/"; folders["early"] != want {
		t.Errorf("early event in %q, want %q", folders["early"], want)
	}
	if want := "raw/logs/dt=2024-05-14/hour=08/"; folders["late"] != want {
		t.Errorf("late event in %q, want %q", folders["late"], want)
	}

	// The test send writes the previewed bytes under the previewed folder.
	one := r.mustPreview(t, m.ID, `{"events": [`+early+`]}`)
	resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": `+early+`}`)
	var sent struct{ Key, Status string }
	if err := json.Unmarshal([]byte(body), &sent); resp.StatusCode != http.StatusOK || err != nil || sent.Status != "delivered" {
		t.Fatalf("test-send: %d %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(sent.Key, folders["early"]) {
		t.Errorf("test send key %q, want it under %q", sent.Key, folders["early"])
	}
	if got, want := r.MinIO.MustGetObject(t, r.Bucket, sent.Key), bytesOf(t, one, 0); !bytes.Equal(got, want) {
		t.Errorf("test send bytes %q, preview bytes %q", got, want)
	}

	// Received (the default) keeps both in one file of the current hour.
	resp, body = r.api(t, http.MethodPatch, "/"+m.ID, `{"partition_time": "received"}`)
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || got.PartitionTime != "received" || got.PartitionWindowHours != 24 {
		t.Fatalf("PATCH to received: %d %s", resp.StatusCode, body)
	}
	p = r.mustPreview(t, m.ID, `{"events": [`+early+`, `+late+`]}`)
	if len(p.Objects) != 1 || p.Objects[0].Events != 2 || !strings.HasPrefix(p.Objects[0].Key, "raw/logs/dt=2024-05-14/hour=10/") {
		t.Errorf("received: %+v, want one file of both events in the current hour", p.Objects)
	}
}

// The editor offers "Partition by" with labels, and saves the choice.
func TestMappingEditorPartitionBy(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	newPage := r.mappingsPage() + "/new"
	_, body := c.get(newPage)
	doc := mustDoc(t, body)
	if got := strings.TrimSpace(doc.Find(`label[for="partition_time"]`).Text()); got != "Partition by" {
		t.Errorf("label %q, want Partition by", got)
	}
	var opts []string
	doc.Find(`select#partition_time option`).Each(func(_ int, s *goquery.Selection) {
		opts = append(opts, s.AttrOr("value", "")+": "+s.Text())
	})
	if len(opts) != 2 || !strings.HasPrefix(opts[0], "received: Time received") || !strings.HasPrefix(opts[1], "event: Event time") {
		t.Errorf("options %q, want received and event with labels", opts)
	}
	if got := values(doc, "partition_time"); len(got) != 1 || got[0] != "received" {
		t.Errorf("new mapping partitions by %v, want received", got)
	}
	form := editorForm(t, c, newPage)
	form.Set("name", "Hourly")
	form.Set("format", "jsonl")
	form.Set("file_extension", "")
	form.Del("col_name")
	form.Del("col_value")
	form.Del("col_transform")
	form.Set("key_preset", "hive")
	form.Set("partition_time", "event")
	form.Set("partition_window_hours", "many")
	resp, body := c.post(r.mappingsPage(), form)
	if doc := mustDoc(t, body); resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="partition_window_hours-error"]`).Length() != 1 {
		t.Fatalf("unreadable window: %d, want 422 with the error next to the field", resp.StatusCode)
	}
	form.Set("partition_window_hours", "48")
	if resp, body := c.post(r.mappingsPage(), form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	_, apiBody := r.api(t, http.MethodGet, "", "")
	if !strings.Contains(apiBody, `"partition_time":"event"`) || !strings.Contains(apiBody, `"partition_window_hours":48`) {
		t.Errorf("saved mappings %s, want partition_time event and a 48-hour window", apiBody)
	}
}
