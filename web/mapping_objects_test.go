package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// A json mapping's preview and test send show and write the same key,
// under the mapping's folder, and the same metadata: s3relay's entries <
// the destination's delivery metadata < the event's metadata.
func TestMappingJSONPreviewAndTestSendFolderAndMetadata(t *testing.T) {
	r := mustMappingRig(t, true)
	resp, out := r.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+r.Dest.ID, r.Token,
		`{"config": {"delivery_metadata": {"team": "analytics", "source": "outpost"}}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.StatusCode, out)
	}
	m := r.mustCreateMapping(t, `{"name": "objects", "format": "json", "trigger": "topic = \"order.created\"", "folder": "outpost"}`)
	if m.Folder != "outpost" {
		t.Errorf("folder: got %q, want it kept", m.Folder)
	}
	event := `{"id": "evt 1", "topic": "order.created", "time": "2024-05-14T09:31:00.5Z", "data": {"order": 7},
		"metadata": {"source": "billing", "tenant": "t1"}}`
	p := r.mustPreview(t, m.ID, `{"events": [`+event+`]}`)
	if len(p.Objects) != 1 {
		t.Fatalf("preview: %d objects, want 1", len(p.Objects))
	}
	o := p.Objects[0]
	wantKey := "raw/outpost/2024-05-14T09-31-00.500Z_evt_1-"
	if !strings.HasPrefix(o.Key, wantKey) || !strings.HasSuffix(o.Key, ".json") {
		t.Errorf("preview key: got %q, want %q...", o.Key, wantKey)
	}
	wantMeta := map[string]string{
		"event-id": "evt 1", "topic": "order.created", "event-timestamp": "2024-05-14T09:31:00.500Z",
		"team": "analytics", "source": "billing", "tenant": "t1",
	}
	check := func(what string, got map[string]string) {
		t.Helper()
		for _, k := range []string{"timestamp", "timestamp-ms"} {
			if got[k] == "" {
				t.Errorf("%s: no %s in %v", what, k, got)
			}
		}
		rest := map[string]string{}
		for k, v := range got {
			if k != "timestamp" && k != "timestamp-ms" {
				rest[k] = v
			}
		}
		if !reflect.DeepEqual(rest, wantMeta) {
			t.Errorf("%s metadata: got %v\nwant %v", what, rest, wantMeta)
		}
	}
	check("preview", o.Metadata)
	if w := strings.Join(o.Warnings, "; "); !strings.Contains(w, `"evt 1" from the event is written as "evt_1-`) {
		t.Errorf("preview warnings: got %q, want the escaped id told", o.Warnings)
	}

	resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": `+event+`}`)
	var sent struct{ Key, Status string }
	if err := json.Unmarshal([]byte(body), &sent); err != nil || resp.StatusCode != http.StatusOK || sent.Status != "delivered" {
		t.Fatalf("test-send: %d %s", resp.StatusCode, body)
	}
	if sent.Key != o.Key {
		t.Errorf("test-send key %q, preview key %q: want the same", sent.Key, o.Key)
	}
	if keys := r.MinIO.MustListKeys(t, r.Bucket, "raw/outpost/"); len(keys) != 1 || keys[0] != o.Key {
		t.Errorf("objects under raw/outpost/: %q, want the previewed key", keys)
	}
	if got := string(r.MinIO.MustGetObject(t, r.Bucket, sent.Key)); got != o.Body {
		t.Errorf("object %q, preview body %q", got, o.Body)
	}
	check("object", r.MinIO.MustHeadObject(t, r.Bucket, sent.Key).Metadata)
}

// The preview warns about colons (Outpost's own key template has them) and
// tells what {event} changed.
func TestMappingPreviewKeyWarnings(t *testing.T) {
	r := mustMappingRig(t, false)
	publish := `{"id": "evt-1", "topic": "order.created", "time": "2024-05-14T09:31:00Z", "data": {}}`
	outpost := r.mustCreateMapping(t, `{"name": "outpost", "format": "json", "trigger": "topic = \"order.created\"",
		"key_template": "join('', [time.rfc3339_nano, '_', metadata.\"event-id\", '.json'])"}`)
	p := r.mustPreview(t, outpost.ID, `{"events": [`+publish+`]}`)
	if o := p.Objects[0]; o.Key != "raw/2024-05-14T09:31:00Z_evt-1.json" || !strings.Contains(strings.Join(o.Warnings, ";"), `contains ":"`) {
		t.Errorf("Outpost's template: key %q, warnings %q; want Outpost's key and a colon warning", o.Key, o.Warnings)
	}
	def := r.mustCreateMapping(t, `{"name": "default", "format": "json", "trigger": "topic = \"order.created\""}`)
	if o := r.mustPreview(t, def.ID, `{"events": [`+publish+`]}`).Objects[0]; o.Key != "raw/2024-05-14T09-31-00.000Z_evt-1.json" || o.Warnings != nil {
		t.Errorf("default template: key %q, warnings %q; want a colon-free key without warnings", o.Key, o.Warnings)
	}
	byEvent := r.mustCreateMapping(t, `{"name": "by event", "format": "jsonl", "key_preset": "custom", "key_template": "{event}/{suffix}.{ext}"}`)
	p = r.mustPreview(t, byEvent.ID, `{"events": [{"type": "track", "event": "Ünïcödé Event 🎉", "userId": "u1"}]}`)
	o := p.Objects[0]
	if !strings.HasPrefix(o.Key, "raw/unicode_event-") {
		t.Errorf("{event} key: got %q, want it transliterated", o.Key)
	}
	if w := strings.Join(o.Warnings, ";"); !strings.Contains(w, `{event}: the event name "Ünïcödé Event 🎉" is written as "unicode_event-`) {
		t.Errorf("{event} warnings: got %q", o.Warnings)
	}
}

// A layout naming the source (segment_classic) previews the key that the
// test send and the engine write: a stored event's own source, else the
// destination's first source, never a made-up one.
func TestMappingClassicPreviewNamesTheSource(t *testing.T) {
	r := mustMappingRig(t, true)
	other := r.mustSource(t, "app")
	r.Dest.SourceIDs = append(r.Dest.SourceIDs, other.ID)
	if err := r.DB.UpdateDestination(context.Background(), r.Dest); err != nil {
		t.Fatal(err)
	}
	m := r.mustCreateMapping(t, `{"name": "classic", "format": "jsonl", "compression": "gzip", "key_preset": "segment_classic", "trigger": "type = \"track\""}`)
	event := `{"type": "track", "event": "Signed Up", "userId": "u1"}`
	first := "raw/segment-logs/" + r.Source.ID + "/"
	p := r.mustPreview(t, m.ID, `{"events": [`+event+`]}`)
	if len(p.Objects) != 1 || !strings.HasPrefix(p.Objects[0].Key, first) {
		t.Errorf("preview of a given event: %+v, want a key under %q", p.Objects, first)
	}
	resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": `+event+`}`)
	var sent struct{ Key, Status string }
	if err := json.Unmarshal([]byte(body), &sent); err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(sent.Key, first) {
		t.Errorf("test-send: %d %s, want a key under %q", resp.StatusCode, body, first)
	}

	if resp, body := r.ingest(t, "/v1/track", other.WriteKey, []byte(event), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
	p = r.mustPreview(t, m.ID, `{}`)
	if want := "raw/segment-logs/" + other.ID + "/"; p.Samples != "recent" || len(p.Objects) != 1 || !strings.HasPrefix(p.Objects[0].Key, want) {
		t.Errorf("preview of the recent event: samples %q %+v, want a key under %q", p.Samples, p.Objects, want)
	}
}

// Sending the same test event twice through a json mapping (whose key
// names the event) writes a second object beside the first, with the file
// id before the extension as the engine does, instead of a conflict.
func TestMappingJSONTestSendTwice(t *testing.T) {
	r := mustMappingRig(t, true)
	m := r.mustCreateMapping(t, `{"name": "objects", "format": "json", "trigger": "topic = \"order.created\""}`)
	event := `{"event": {"id": "evt-1", "topic": "order.created", "time": "2024-05-14T09:31:00.5Z", "data": {"order": 7}}}`
	var keys []string
	for i := range 2 {
		resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", event)
		var sent struct{ Key, Status string }
		if err := json.Unmarshal([]byte(body), &sent); err != nil || resp.StatusCode != http.StatusOK || sent.Status != "delivered" {
			t.Fatalf("test-send %d: %d %s", i+1, resp.StatusCode, body)
		}
		keys = append(keys, sent.Key)
	}
	first := "raw/2024-05-14T09-31-00.500Z_evt-1.json"
	if keys[0] != first || !strings.HasPrefix(keys[1], "raw/2024-05-14T09-31-00.500Z_evt-1-dlv_") || !strings.HasSuffix(keys[1], ".json") {
		t.Errorf("keys: got %q, want %q and the same with the file id before .json", keys, first)
	}
	if got := r.MinIO.MustListKeys(t, r.Bucket, "raw/"); len(got) != 2 {
		t.Errorf("objects: got %q, want both", got)
	}
}
