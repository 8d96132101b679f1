package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestRetryingHealthIsShownEverywhere records a retryable failed attempt as
// the engine does: the API's health is "retrying" with the error code,
// message and count, and the overview, the destinations list and the
// destination's own pages show it, until a success makes it healthy.
func TestRetryingHealthIsShownEverywhere(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	token := e.mustToken(t)
	src := e.mustSource(t, "web")
	dest, _ := e.mustDestination(t, "Warehouse", "", src.ID)
	other, _ := e.mustDestination(t, "Lake", "", src.ID)
	for range 3 {
		if err := e.DB.RecordFailure(ctx, dest.ID, store.HealthRetrying, "SlowDown", "Please reduce your request rate."); err != nil {
			t.Fatal(err)
		}
	}

	apiHealth := func(id string) map[string]any {
		resp, body := e.apiGet(t, "/api/v1/destinations/"+id, token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET destination: %d %s", resp.StatusCode, body)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := apiHealth(dest.ID)
	if got["health"] != "retrying" || got["health_code"] != "SlowDown" || got["health_message"] != "Please reduce your request rate." ||
		got["health_failures"] != float64(3) || got["health_changed_at"] == nil {
		t.Errorf("API health fields = %v %v %v %v %v; want retrying, SlowDown, the message, 3, a time",
			got["health"], got["health_code"], got["health_message"], got["health_failures"], got["health_changed_at"])
	}

	for _, page := range []string{"/", "/destinations", "/destinations/" + dest.ID + "/mappings", "/destinations/" + dest.ID + "/bucket"} {
		_, body := c.get(page)
		doc := mustDoc(t, body)
		alert := doc.Find(`[data-testid="health-alert"]`)
		if alert.Length() != 1 || alert.AttrOr("data-id", "") != dest.ID || alert.AttrOr("data-health", "") != "retrying" ||
			!strings.Contains(alert.Text(), "Uploads to Warehouse are failing and being retried") ||
			alert.Find(`[data-testid="health-code"]`).Text() != "SlowDown" ||
			alert.Find(`[data-testid="health-message"]`).Text() != "Please reduce your request rate." ||
			!strings.Contains(alert.Find(`[data-testid="health-failures"]`).Text(), "3 attempts") {
			t.Errorf("%s: %d health alerts, %q", page, alert.Length(), strings.Join(strings.Fields(alert.Text()), " "))
		}
	}
	_, body := c.get("/")
	doc := mustDoc(t, body)
	if got := doc.Find(`[data-testid="activity-row"][data-id="` + dest.ID + `"] [data-testid="health"]`).Text(); got != "retrying" {
		t.Errorf("overview health = %q, want retrying", got)
	}
	_, body = c.get("/destinations")
	if got := strings.TrimSpace(mustDoc(t, body).Find(`[data-testid="destinations-table"] tr:contains("Warehouse") [data-testid="health"]`).Text()); got != "retrying" {
		t.Errorf("destinations list health = %q, want retrying", got)
	}
	// Another destination's page shows no banner of this one.
	_, body = c.get("/destinations/" + other.ID + "/mappings")
	if n := mustDoc(t, body).Find(`[data-testid="health-alert"]`).Length(); n != 0 {
		t.Errorf("Lake's page shows %d health alerts", n)
	}

	// A success: healthy, no code, no count, no banner.
	if err := e.DB.SetHealth(ctx, dest.ID, store.HealthHealthy, ""); err != nil {
		t.Fatal(err)
	}
	got = apiHealth(dest.ID)
	if got["health"] != "healthy" || got["health_code"] != "" || got["health_failures"] != float64(0) {
		t.Errorf("after a success API health = %v %v %v, want healthy, no code, 0", got["health"], got["health_code"], got["health_failures"])
	}
	_, body = c.get("/")
	doc = mustDoc(t, body)
	if n := doc.Find(`[data-testid="health-alert"]`).Length(); n != 0 {
		t.Errorf("%d health alerts after a success", n)
	}
	if got := doc.Find(`[data-testid="activity-row"][data-id="` + dest.ID + `"] [data-testid="health"]`).Text(); got != "healthy" {
		t.Errorf("overview health after a success = %q, want healthy", got)
	}
}

// TestFailedFilesAreShownOnTheDestinationPages: a file that failed (its
// retry window ran out) is counted in the shown backlog and announced on
// the destination's pages, while the 429 limit leaves it out.
func TestFailedFilesAreShownOnTheDestinationPages(t *testing.T) {
	e := MustEnv(t, envOptions{maxBacklog: 5})
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Warehouse", "", src.ID)
	seqs := e.mustSendTracks(t, src, "f", 8)
	if err := e.DB.SetCursor(context.Background(), m.ID, store.SeqPosition(seqs[7])); err != nil {
		t.Fatal(err)
	}
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "f.csv", Events: 8, CreatedAt: time.Now().UTC()}, store.StatusFailed, seqs)

	_, body := c.get("/")
	if got := mustDoc(t, body).Find(`[data-testid="activity-row"][data-id="` + dest.ID + `"] [data-testid="backlog"]`).Text(); got != "8" {
		t.Errorf("overview backlog = %q, want the failed file's 8 events", got)
	}
	for _, page := range []string{"/", "/destinations", "/destinations/" + dest.ID + "/mappings"} {
		_, body := c.get(page)
		alert := mustDoc(t, body).Find(`[data-testid="failed-alert"]`)
		if alert.Length() != 1 || !strings.Contains(alert.Text(), "1 file of Warehouse failed") ||
			alert.Find("a").AttrOr("href", "") != "/deliveries?destination_id="+dest.ID+"&status=failed" {
			t.Errorf("%s: %d failed alerts, %q", page, alert.Length(), strings.Join(strings.Fields(alert.Text()), " "))
		}
	}
	// 8 failed events are past the limit of 5, yet ingestion goes on.
	resp, body := e.ingest(t, "/v1/track", src.WriteKey, []byte(`{"type":"track","event":"x","userId":"u"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("ingestion with only failed files waiting: %d %s, want 200", resp.StatusCode, body)
	}
}
