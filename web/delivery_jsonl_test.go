package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// The delivery detail shows a jsonl file's rows as the file has them: one
// event a line, every line ended by a newline.
func TestDeliveryPreviewShowsJSONLLines(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Lake", "", src.ID)
	m.Format, m.FileExtension, m.Columns, m.Delimiter = store.FormatJSONL, "jsonl", nil, ""
	if err := e.DB.UpdateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	seqs := e.mustSendTracks(t, src, "j", 3)
	d := mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/file.jsonl", Events: 3, CreatedAt: time.Now().UTC()},
		store.StatusDelivered, seqs)
	_, body := c.get("/deliveries/" + d.ID)
	text := mustDoc(t, body).Find(`[data-testid="preview-body"]`).Text()
	if !strings.HasSuffix(text, "}\n") {
		t.Errorf("preview %q does not end the last line", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("preview lines %q, want 3", lines)
	}
	for i, l := range lines {
		var ev struct{ MessageID string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.MessageID != "j-"+string(rune('0'+i)) {
			t.Errorf("line %d = %q (%v)", i+1, l, err)
		}
	}
}
