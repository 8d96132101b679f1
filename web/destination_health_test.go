package web_test

import (
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// TestDestinationHealthTellsTheTruth: failing uploads show "retrying" with the
// latest error code and the attempts, a passing connection test does not
// hide them, and an edit of the settings says the last test is out of date.
func TestDestinationHealthTellsTheTruth(t *testing.T) {
	r := MustDestRig(t)
	d := r.mustCreate(t, r.keysBody(nil))
	if res := r.mustTest(t, d.ID); !res.OK {
		t.Fatalf("test against MinIO failed: %+v", res)
	}
	c := r.client(t)
	c.login(adminEmail, adminPassword)
	row := func() string {
		t.Helper()
		_, body := c.get("/destinations")
		sel := mustDoc(t, body).Find(`[data-testid="destination-row"][data-id="` + d.ID + `"]`)
		if sel.Length() != 1 {
			t.Fatalf("no row of %s", d.ID)
		}
		return strings.Join(strings.Fields(sel.Text()), " ")
	}
	if got := row(); !strings.Contains(got, "passed") || !strings.Contains(got, "healthy") || strings.Contains(got, "settings changed") {
		t.Errorf("after a passing test: row %q, want passed and healthy", got)
	}

	for range 2 {
		if err := r.DB.RecordFailure(t.Context(), d.ID, store.HealthRetrying, "ConnectionRefused", "dial tcp 127.0.0.1:9: connect: connection refused"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"retrying", "ConnectionRefused", "2 attempts failed"}
	for _, w := range want {
		if got := row(); !strings.Contains(got, w) {
			t.Errorf("while uploads fail: row %q lacks %q", got, w)
		}
	}
	// A passing test says the connection works now, not that uploads do.
	r.mustTest(t, d.ID)
	if got := row(); !strings.Contains(got, "retrying") || strings.Contains(got, "healthy") {
		t.Errorf("a passing test while uploads fail: row %q, want still retrying", got)
	}

	// Edit the bucket step: the last test is for other settings.
	_, body := c.get("/destinations/" + d.ID + "/bucket")
	form := formOf(mustDoc(t, body))
	form.Set("path_prefix", "edited/")
	resp, _ := c.post("/destinations/"+d.ID+"/bucket", form)
	if resp.StatusCode != 303 {
		t.Fatalf("save bucket step: status %d", resp.StatusCode)
	}
	if got := row(); !strings.Contains(got, "settings changed since the last test") {
		t.Errorf("after an edit: row %q, want settings changed since the last test", got)
	}
	_, body = c.get("/destinations/" + d.ID + "/test")
	if got := mustDoc(t, body).Find(`[data-testid="settings-changed"]`).Text(); !strings.Contains(got, "Settings changed since the last test") {
		t.Errorf("test step after an edit: %q", got)
	}
	// Renaming is not a change of what the test checked.
	_, body = c.get("/destinations/" + d.ID + "/name")
	form = formOf(mustDoc(t, body))
	form.Set("name", "Renamed")
	c.post("/destinations/"+d.ID+"/name", form)
	r.mustTest(t, d.ID)
	_, body = c.get("/destinations/" + d.ID + "/name")
	form = formOf(mustDoc(t, body))
	form.Set("name", "Renamed again")
	c.post("/destinations/"+d.ID+"/name", form)
	if got := row(); strings.Contains(got, "settings changed") {
		t.Errorf("after a rename: row %q, want no settings changed", got)
	}
}
