package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// TestDestinationPage opens /destinations/{id} from the list: it shows the
// health with the latest error, the last test, the backlog and rate, the
// latest deliveries with their status, each mapping's own deliveries, and
// links to edit the settings and mappings and to test.
func TestDestinationPage(t *testing.T) {
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Warehouse", "", src.ID)
	seqs := e.mustSendTracks(t, src, "p", 10)
	now := time.Now().UTC()
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/a.csv", Events: 6, CreatedAt: now.Add(-time.Minute)}, store.StatusDelivered, seqs[:6])
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/b.csv", Events: 4, CreatedAt: now}, store.StatusFailed, seqs[6:])
	mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/test.csv", Events: 1, CreatedAt: now, Test: true}, store.StatusDelivered, nil)
	if err := e.DB.SetCursor(t.Context(), m.ID, store.SeqPosition(seqs[9])); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.RecordFailure(t.Context(), dest.ID, store.HealthRetrying, "SlowDown", "Please reduce your request rate."); err != nil {
		t.Fatal(err)
	}

	_, body := c.get("/destinations")
	href := mustDoc(t, body).Find(`[data-testid="destination-row"][data-id="`+dest.ID+`"] [data-testid="destination-name"]`).AttrOr("href", "")
	if want := "/destinations/" + dest.ID; href != want {
		t.Fatalf("the list links the name to %q, want %q", href, want)
	}
	resp, body := c.get(href)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", href, resp.StatusCode)
	}
	doc := mustDoc(t, body)
	text := func(sel string) string { return strings.Join(strings.Fields(doc.Find(sel).Text()), " ") }
	if got := text(`[data-testid="destination-health"]`); !strings.Contains(got, "retrying") || !strings.Contains(got, "SlowDown") || !strings.Contains(got, "Please reduce your request rate.") {
		t.Errorf("health = %q, want retrying with SlowDown and its message", got)
	}
	if got := text(`[data-testid="destination-last-test"]`); !strings.Contains(got, "Not tested yet") {
		t.Errorf("last test = %q", got)
	}
	// The failed file's 4 events are not in S3: they are the backlog.
	if got := text(`[data-testid="destination-backlog"]`); got != "4 events waiting" {
		t.Errorf("backlog = %q, want 4 events waiting", got)
	}
	if got := text(`[data-testid="destination-per-minute"]`); got != "2.0" {
		t.Errorf("events per minute = %q, want 2.0", got)
	}
	var statuses []string
	for _, n := range doc.Find(`[data-testid="destination-delivery"]`).Nodes {
		for _, a := range n.Attr {
			if a.Key == "data-status" {
				statuses = append(statuses, a.Val)
			}
		}
	}
	if len(statuses) != 3 {
		t.Errorf("latest deliveries statuses %q, want 3 rows", statuses)
	}
	row := doc.Find(`[data-testid="destination-mapping"]`)
	if row.Length() != 1 || strings.TrimSpace(row.Find(`[data-testid="mapping-files"]`).Text()) != "1" ||
		strings.TrimSpace(row.Find(`[data-testid="mapping-events"]`).Text()) != "6" ||
		strings.TrimSpace(row.Find(`[data-testid="mapping-last-delivery"]`).Text()) == "never" {
		t.Errorf("mapping row %q: want 1 file, 6 events (the test send left out) and a last delivery", text(`[data-testid="destination-mapping"]`))
	}
	for testid, want := range map[string]string{
		"edit-settings": "/destinations/" + dest.ID + "/name",
		"edit-mappings": "/destinations/" + dest.ID + "/mappings",
		"test-link":     "/destinations/" + dest.ID + "/test",
	} {
		if got := doc.Find(`[data-testid="`+testid+`"]`).AttrOr("href", ""); got != want {
			t.Errorf("%s links to %q, want %q", testid, got, want)
		}
	}
}
