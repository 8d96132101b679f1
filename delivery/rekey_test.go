package delivery_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
)

// TestFileWithoutKeyIsWrittenOnceItsTemplateIsFixed: a json key template
// reading a field the events lack leaves their files failed, without a key;
// retrying them while the template is unchanged is refused on key_template;
// after the template is fixed, retrying all of the destination names and
// writes them.
func TestFileWithoutKeyIsWrittenOnceItsTemplateIsFixed(t *testing.T) {
	r := mustRig(t)
	ctx := context.Background()
	m := r.mustMapping(t, &store.Mapping{Format: store.FormatJSON, Trigger: `type = "track"`, KeyTemplate: "data.properties.order_id"})
	e := r.engine(delivery.Config{})
	runEngine(t, e)
	r.send(t, "nk", 2, "track")

	var failed []*store.Delivery
	for deadline := time.Now().Add(10 * time.Second); len(failed) < 2; time.Sleep(50 * time.Millisecond) {
		failed = failed[:0]
		for _, d := range r.deliveries(t, m.ID) {
			if d.Status == store.StatusFailed && d.LastErrorCode == store.ErrCodeNoKey {
				failed = append(failed, d)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("files without a key: %d, want 2\n%s", len(failed), r.Log.String())
		}
	}

	err := delivery.Rekey(ctx, r.DB, failed[0].ID)
	if store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != "key_template" {
		t.Fatalf("retry with the template unchanged: %v, want invalid key_template", err)
	}
	if d, _, _ := r.DB.DeliveryByID(ctx, failed[0].ID); d.Status != store.StatusFailed || d.LastErrorCode != store.ErrCodeNoKey {
		t.Errorf("after a refused retry: %s %s, want it left failed without a key", d.Status, d.LastErrorCode)
	}

	m.KeyTemplate = "join('', [data.messageId, '.json'])"
	if err := r.DB.UpdateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n, err := delivery.RekeyAll(ctx, r.DB, r.Dest.ID); err != nil || n != 2 {
		t.Fatalf("retry all: %d, %v; want 2 files named", n, err)
	}
	e.Wake()
	var keys []string
	for _, d := range r.waitDelivered(t, m.ID, 2, 10*time.Second) {
		keys = append(keys, d.Key)
	}
	slices.Sort(keys)
	if want := []string{"raw/nk-0.json", "raw/nk-1.json"}; !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	var ev map[string]any
	if err := json.Unmarshal(r.MinIO.MustGetObject(t, r.Bucket, "raw/nk-1.json"), &ev); err != nil || ev["messageId"] != "nk-1" {
		t.Errorf("object raw/nk-1.json = %v, %v; want the event nk-1", ev, err)
	}
	if err := delivery.Rekey(ctx, r.DB, failed[0].ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("naming a delivered file again: %v, want conflict", err)
	}
}
