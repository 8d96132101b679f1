package delivery_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/store"
)

// The json format writes one object per event under the mapping's folder,
// with the destination's delivery metadata merged as Outpost merges it
// (s3relay's entries < delivery metadata < the event's metadata), an event
// id made safe in the key, and the key and bytes that the preview shows.
func TestEngineJSONObjectsFolderAndDeliveryMetadata(t *testing.T) {
	r := mustRig(t)
	ctx := context.Background()
	r.Dest.Config.DeliveryMetadata = map[string]string{"team": "analytics", "source": "outpost", "timestamp": "999"}
	if err := r.DB.UpdateDestination(ctx, r.Dest); err != nil {
		t.Fatal(err)
	}
	m := r.mustMapping(t, &store.Mapping{Format: store.FormatJSON, Trigger: `topic = "order.created"`, Folder: "outpost"})
	runEngine(t, r.engine(delivery.Config{}))

	body := `{"id":"curlmess-pub 4:odd+id","topic":"order.created","time":"2024-01-02T03:04:05.6Z",
		"data":{"order_id":"o1","total":12.50},"metadata":{"source":"user-service","Region":"eu"}}`
	msg, err := store.ParsePublish([]byte(body), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.App.Append(ctx, r.Source.ID, time.Now(), []*store.Message{msg}, nil); err != nil {
		t.Fatal(err)
	}
	ds := r.waitDelivered(t, m.ID, 1, 10*time.Second)

	keys := r.MinIO.MustListKeys(t, r.Bucket, "")
	want := "raw/outpost/2024-01-02T03-04-05.600Z_curlmess-pub_4_odd_id-"
	if len(keys) != 1 || !strings.HasPrefix(keys[0], want) || !strings.HasSuffix(keys[0], ".json") || keys[0] != ds[0].Key {
		t.Fatalf("keys: got %q (delivery %q), want one under %q", keys, ds[0].Key, want)
	}
	head := r.MinIO.MustHeadObject(t, r.Bucket, keys[0])
	got := head.Metadata
	wantMeta := map[string]string{
		"event-id": "curlmess-pub 4:odd+id", "topic": "order.created", "event-timestamp": "2024-01-02T03:04:05.600Z",
		"timestamp": "999", "team": "analytics", "source": "user-service", "region": "eu",
		"timestamp-ms": got["timestamp-ms"],
	}
	if !reflect.DeepEqual(got, wantMeta) {
		t.Errorf("metadata: got %v\nwant %v", got, wantMeta)
	}
	if ms := got["timestamp-ms"]; len(ms) != 13 || strings.Trim(ms, "0123456789") != "" {
		t.Errorf("timestamp-ms: got %q, want Unix milliseconds", ms)
	}

	// The preview renders the same key, bytes and delivery metadata.
	stored := r.MinIO.MustGetObject(t, r.Bucket, keys[0])
	smp, err := delivery.DecodeSample(json.RawMessage(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	c, err := delivery.Compile(m, r.Dest.Config)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := delivery.Render(c, []delivery.Sample{smp}, time.Now(), "preview")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Key != keys[0] || string(objs[0].Body) != string(stored) {
		t.Fatalf("preview: got %+v, want key %q and body %s", objs, keys[0], stored)
	}
	if p := objs[0].Metadata; p["team"] != "analytics" || p["source"] != "user-service" || p["timestamp"] != "999" {
		t.Errorf("preview metadata: got %v, want the same merge as the object's", p)
	}
	if w := strings.Join(objs[0].Warnings, "; "); !strings.Contains(w, `"curlmess-pub 4:odd+id" from the event is written as "curlmess-pub_4_odd_id-`) {
		t.Errorf("preview warnings: got %q, want the escaped id told", objs[0].Warnings)
	}
}

// A json key already taken (the same event id and time sent from two
// sources) gets the file id before its extension, and keeps the default
// key's time whole: the fraction's dot is not the extension's.
func TestEngineJSONTakenKeyKeepsTimeAndExtension(t *testing.T) {
	r := mustRig(t)
	ctx := context.Background()
	other := &store.Source{Name: "app"}
	if err := r.DB.CreateSource(ctx, other); err != nil {
		t.Fatal(err)
	}
	r.Dest.SourceIDs = append(r.Dest.SourceIDs, other.ID)
	if err := r.DB.UpdateDestination(ctx, r.Dest); err != nil {
		t.Fatal(err)
	}
	m := r.mustMapping(t, &store.Mapping{Format: store.FormatJSON, Trigger: `topic = "order.created"`})
	runEngine(t, r.engine(delivery.Config{}))

	for _, src := range []string{r.Source.ID, other.ID} {
		msg, err := store.ParsePublish([]byte(`{"id":"dup","topic":"order.created","time":"2024-01-02T03:04:05.6Z","data":{}}`), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.App.Append(ctx, src, time.Now(), []*store.Message{msg}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ds := r.waitDelivered(t, m.ID, 2, 10*time.Second)
	var keys []string
	for _, d := range ds {
		keys = append(keys, d.Key)
	}
	slices.Sort(keys)
	renamed := ""
	for _, d := range ds {
		if d.Key != "raw/2024-01-02T03-04-05.600Z_dup.json" {
			renamed = d.Key
		}
	}
	if want := "raw/2024-01-02T03-04-05.600Z_dup-" + renamedID(ds) + ".json"; renamed != want || !slices.Contains(keys, "raw/2024-01-02T03-04-05.600Z_dup.json") {
		t.Errorf("keys: got %q, want the first as written and the second %q", keys, want)
	}
}

// renamedID is the id of the delivery whose key holds it.
func renamedID(ds []*store.Delivery) string {
	for _, d := range ds {
		if strings.Contains(d.Key, d.ID) {
			return d.ID
		}
	}
	return "<none>"
}
