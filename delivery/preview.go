package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// Object is a file a mapping would write: its key, headers and bytes.
type Object struct {
	Key             string            `json:"key"`
	ContentType     string            `json:"content_type"`
	ContentEncoding string            `json:"content_encoding,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Body            []byte            `json:"-"`
	Events          int               `json:"events"`
	// Warnings point at risky keys (spaces, colons, characters that need
	// escaping), then at the values from the event that the key holds
	// escaped.
	Warnings []string `json:"warnings,omitempty"`
	// Table shows a parquet file: its schema and first rows, read back from
	// Body. Nulls counts the values that did not fit their column.
	Table *format.Table        `json:"table,omitempty"`
	Nulls []format.ColumnNulls `json:"nulls,omitempty"`
}

// PreviewRows is how many rows a parquet preview shows.
const PreviewRows = 20

// NullWarnings describes the values written as null in a parquet file.
func NullWarnings(nulls []format.ColumnNulls) []string {
	var out []string
	for _, n := range nulls {
		hint := ""
		if n.Type == format.TypeInt64 {
			hint = " Integers beyond int64 (such as 2^63) need a string or json column."
		}
		out = append(out, fmt.Sprintf("Column %s: %d value(s) did not fit its type %s and were written as null; the events are in the file.%s", n.Column, n.Count, n.Type, hint))
	}
	return out
}

// previewFileID names preview files; real files use their delivery id.
const previewFileID = "preview"

// Sample is an event to render: its JSON as the store keeps it (Raw, which
// the encoders read), the same decoded (Msg, which triggers and key layouts
// read), and the source it came from (which layouts naming the source,
// segment_classic or {source_id}, need). DecodeSample makes one.
type Sample struct {
	Msg      map[string]any
	Raw      []byte
	SourceID string
}

// Render encodes events through a mapping exactly as the engine would, one
// object per file (split as the engine splits: by type, source or event name
// where the layout needs it; one per event for the json format), without
// writing anything. Events the trigger does not accept are left out, as the
// engine leaves them out. fileID names the files (a delivery id for a test
// send, "preview" for a preview).
func Render(c *Compiled, samples []Sample, now time.Time, fileID string) ([]Object, error) {
	type group struct {
		part   string
		sample *store.Event
		msg    map[string]any
		events []Sample
	}
	var groups []*group
	byPart := map[string]*group{}
	for _, smp := range samples {
		msg := smp.Msg
		if !c.Trigger.Match(msg) {
			continue
		}
		ev := sampleEvent(msg, smp.SourceID, now)
		part := c.partition(ev, msg)
		if c.Mapping.Format == store.FormatJSON {
			part = fmt.Sprint(len(groups))
		}
		g := byPart[part]
		if g == nil {
			g = &group{part: part, sample: ev, msg: msg}
			byPart[part] = g
			groups = append(groups, g)
		}
		g.events = append(g.events, smp)
	}
	sort.SliceStable(groups, func(i, j int) bool { return c.Mapping.Format != store.FormatJSON && groups[i].part < groups[j].part })
	var out []Object
	for i, g := range groups {
		id := fileID
		if len(groups) > 1 {
			id = fmt.Sprintf("%s-%d", fileID, i+1)
		}
		var o Object
		var changes []string
		if c.Mapping.Format == store.FormatJSON {
			obj, err := c.Format.Object(g.msg, now)
			if err != nil {
				return nil, store.FieldErrorf("key_template", "%v", err)
			}
			o = Object{Key: obj.Key, ContentType: obj.ContentType, ContentEncoding: obj.ContentEncoding, Metadata: obj.Metadata, Body: obj.Body, Events: 1}
			changes = obj.KeyChanges
		} else {
			var buf bytes.Buffer
			nulls, err := c.encodeTo(&buf, len(g.events), func(encode func([]byte) error) error {
				for _, smp := range g.events {
					if err := encode(smp.Raw); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("encode preview: %w", err)
			}
			key, err := c.keyFor(&store.Delivery{ID: id}, g.sample, g.msg, now)
			if err != nil {
				return nil, store.FieldErrorf("key_template", "%v", err)
			}
			o = Object{Key: key, ContentType: c.Format.ContentType(), ContentEncoding: c.Format.ContentEncoding(), Body: buf.Bytes(), Events: len(g.events)}
			name, _ := g.msg["event"].(string)
			changes = c.Format.KeyChanges(format.KeyInput{Event: name})
			if c.Mapping.Format == store.FormatParquet {
				tbl, err := format.ReadTable(bytes.NewReader(o.Body), int64(len(o.Body)), PreviewRows)
				if err != nil {
					return nil, err
				}
				o.Table, o.Nulls = tbl, nulls
			}
		}
		o.Warnings = append(format.KeyWarnings(o.Key), changes...)
		out = append(out, o)
	}
	return out, nil
}

// sampleEvent gives an event not from the store the attributes that
// partitioning and keys read. Its times are those the store would keep
// (RFC 3339 strings): receivedAt, else now for an event not received yet;
// and Segment's timestamp rule (timestamp, else originalTimestamp corrected
// by sentAt, else the receipt), or a publish event's time.
func sampleEvent(msg map[string]any, sourceID string, now time.Time) *store.Event {
	ev := &store.Event{SourceID: sourceID, ReceivedAt: now}
	if t, ok := rfc3339(msg["receivedAt"]); ok {
		ev.ReceivedAt = t
	}
	ev.Type, _ = msg["type"].(string)
	if _, ok := msg["topic"]; ok && ev.Type == "" {
		ev.Type = store.TypePublish
	}
	ev.Timestamp = ev.ReceivedAt
	if ev.Type == store.TypePublish {
		if t, ok := rfc3339(msg["time"]); ok {
			ev.Timestamp = t
		}
	} else if t, ok := rfc3339(msg["timestamp"]); ok {
		ev.Timestamp = t
	} else if orig, ok := rfc3339(msg["originalTimestamp"]); ok {
		ev.Timestamp = orig
		if sent, ok := rfc3339(msg["sentAt"]); ok {
			ev.Timestamp = ev.ReceivedAt.Add(-sent.Sub(orig))
		}
	}
	if ev.SourceID == "" {
		ev.SourceID = "test-source"
	}
	return ev
}

func rfc3339(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// DecodeSample reads a user-supplied event: its text normalized, decoded
// with its numbers exact, and its JSON put in the form events are stored
// in, so that it renders as it would once received.
func DecodeSample(raw json.RawMessage) (Sample, error) {
	raw = store.NormalizeText(raw)
	m, err := decodeEvent(raw)
	if err != nil || m == nil {
		return Sample{}, store.FieldErrorf("events", "Each event must be a JSON object.")
	}
	stored, err := store.StoredForm(raw)
	if err != nil {
		return Sample{}, store.FieldErrorf("events", "Each event must be a JSON object.")
	}
	return Sample{Msg: m, Raw: stored}, nil
}

// StoredSample reads a stored event; its body is already in stored form and
// is what its files are built from.
func StoredSample(ev *store.Event) (Sample, error) {
	m, err := decodeEvent(ev.Body)
	if err != nil || m == nil {
		return Sample{}, store.Errorf(store.EINVALID, "Stored event %s is not a JSON object.", ev.ID)
	}
	return Sample{Msg: m, Raw: ev.Body, SourceID: ev.SourceID}, nil
}

// FromDestination gives the samples that name no source the destination's
// first source, as a test send names it, so that a preview shows the keys
// (segment_classic, {source_id}) that the test send and the engine write.
func FromDestination(samples []Sample, dest *store.Destination) []Sample {
	if len(dest.SourceIDs) == 0 {
		return samples
	}
	out := make([]Sample, len(samples))
	for i, smp := range samples {
		if smp.SourceID == "" {
			smp.SourceID = dest.SourceIDs[0]
		}
		out[i] = smp
	}
	return out
}

// TestSend writes one event through a mapping to the destination now, and
// records it in the delivery history as a test. The object's bytes are those
// Render gives for the same event.
func (e *Engine) TestSend(ctx context.Context, dest *store.Destination, m *store.Mapping, event Sample) (*store.Delivery, error) {
	c, err := Compile(m, dest.Config)
	if err != nil {
		return nil, err
	}
	if !c.Trigger.Match(event.Msg) {
		return nil, store.FieldErrorf("event", "The mapping's trigger does not accept this event, so it would never be written. Change the event or the trigger.")
	}
	now := e.db.Now()
	d := &store.Delivery{ID: store.NewID("dlv"), DestinationID: dest.ID, MappingID: m.ID, Test: true, Events: 1, CreatedAt: now, Status: store.StatusUploading, Attempts: 1}
	// The key names the event's source (a stored event's), else the
	// destination's first source, as its files would.
	objs, err := Render(c, FromDestination([]Sample{event}, dest), now, d.ID)
	if err != nil {
		return nil, err
	}
	o := objs[0]
	d.Key, d.ContentType, d.ContentEncoding, d.Bytes = o.Key, o.ContentType, o.ContentEncoding, int64(len(o.Body))
	d.FirstEventAt, d.LastEventAt = now, now
	// Sealed uploading, it is leased to this replica for the attempt.
	limit := e.attemptDeadline(d.Bytes)
	d.LeaseHolder, d.LeaseExpiresAt = e.cfg.Replica, now.Add(limit+e.cfg.LeaseMargin)
	err = e.db.SealDelivery(ctx, d, nil, store.Position{})
	if store.ErrorCode(err) == store.ECONFLICT && store.ErrorField(err) == "key" {
		// The event's key is written already (a json key names the event,
		// sent before): never overwrite it, as the engine does not.
		d.Key = withFileID(d.Key, d.ID)
		err = e.db.SealDelivery(ctx, d, nil, store.Position{})
	}
	if err != nil {
		return nil, err
	}
	o.Key = d.Key
	start := time.Now()
	var res s3.PutResult
	client, err := e.clients.Client(ctx, dest.ID, S3Config(dest))
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, limit)
		res, err = client.Put(pctx, s3.PutInput{Key: o.Key, Body: bytes.NewReader(o.Body), ContentType: o.ContentType, ContentEncoding: o.ContentEncoding, Metadata: o.Metadata})
		cancel()
	}
	a := store.Attempt{N: 1, At: start, Duration: time.Since(start), OK: err == nil, HTTPStatus: res.HTTPStatus, RequestID: res.RequestID,
		Replica: e.cfg.Replica}
	out := store.AttemptOutcome{Attempt: a, Status: store.StatusDelivered, Bytes: int64(len(o.Body))}
	if err != nil {
		f := s3.Classify(err)
		out.Status = store.StatusFailed
		out.Attempt.Code, out.Attempt.Message, out.Attempt.HTTPStatus = f.Code, f.Message, max(f.HTTPStatus, res.HTTPStatus)
		if f.Hint != "" {
			out.Attempt.Message += " — " + f.Hint
		}
	}
	if err := e.db.FinishAttempt(context.WithoutCancel(ctx), d.ID, out); err != nil {
		return nil, err
	}
	got, _, err := e.db.DeliveryByID(ctx, d.ID)
	return got, err
}

// StoredTable shows a parquet delivery from its stored events, as its file
// holds them: the schema and first rows (the first PreviewRows events
// encoded as the file encodes them), and the values of all its events
// written as null because they did not fit their column.
func StoredTable(ctx context.Context, db *store.DB, c *Compiled, d *store.Delivery) (*format.Table, []format.ColumnNulls, error) {
	if c.Mapping.Format != store.FormatParquet {
		return nil, nil, nil
	}
	counter := c.Format.NewNullCounter()
	var first [][]byte
	err := db.DeliveryBodies(ctx, d.ID, func(body []byte) error {
		if len(first) < PreviewRows {
			first = append(first, bytes.Clone(body))
		}
		return counter.Add(body)
	})
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	_, err = c.encodeTo(&buf, len(first), func(encode func([]byte) error) error {
		for _, b := range first {
			if err := encode(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	tbl, err := format.ReadTable(bytes.NewReader(buf.Bytes()), int64(buf.Len()), PreviewRows)
	if err != nil {
		return nil, nil, err
	}
	tbl.TotalRows = int64(d.Events)
	return tbl, counter.Nulls(), nil
}
