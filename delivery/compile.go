package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/delivery/match"
	"github.com/s3relay/s3relay/store"
)

// Compiled is a mapping made ready to route and encode events: its trigger
// parsed and its format compiled once.
type Compiled struct {
	Mapping *store.Mapping
	Trigger *match.Trigger
	Format  *format.Format
	// splitTypes: the trigger accepts several event types, so files are split
	// by type, as Segment does.
	splitTypes bool
	// light: the trigger reads only fields the store keeps in columns (type,
	// event, topic), so routing need not decode the event; readsEvent says
	// whether "event" is among them.
	light, readsEvent bool
	// byEventHour: files are split by their events' own UTC hour
	// (partition_time event), which their folders name; window bounds how
	// old that time may be.
	byEventHour bool
	window      time.Duration
}

// FormatSpec converts a mapping and its destination's settings (path prefix,
// delivery metadata) into the encoder's Spec.
func FormatSpec(m *store.Mapping, dest store.DestinationConfig) format.Spec {
	cols := make([]format.Column, len(m.Columns))
	for i, c := range m.Columns {
		cols[i] = format.Column{Name: c.Name, Value: c.Value, Transform: c.Transform, Normalize: c.Normalize, Hash: c.Hash, Type: c.Type}
	}
	return format.Spec{
		Format:               m.Format,
		Columns:              cols,
		Delimiter:            m.Delimiter,
		FileExtension:        m.FileExtension,
		Compression:          m.Compression,
		AudienceActionColumn: m.AudienceActionColumnName,
		BatchSizeColumn:      m.BatchSizeColumnName,
		KeyPreset:            m.KeyPreset,
		KeyTemplate:          m.KeyTemplate,
		Folder:               m.Folder,
		FilenamePrefix:       m.FilenamePrefix,
		PathPrefix:           dest.PathPrefix,
		DeliveryMetadata:     dest.DeliveryMetadata,
	}
}

// Compile validates a mapping completely (structure, trigger, columns, key
// layout) and prepares it for its destination's settings dest. Errors are EINVALID *store.Error values naming the
// field; a trigger error gives its position in the message.
func Compile(m *store.Mapping, dest store.DestinationConfig) (*Compiled, error) {
	m.ApplyDefaults()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	trig, err := match.Parse(m.Trigger)
	if err != nil {
		var se *match.SyntaxError
		if errors.As(err, &se) {
			return nil, &store.Error{Code: store.EINVALID, Field: "trigger", Message: "Trigger " + se.Error() + "."}
		}
		return nil, store.FieldErrorf("trigger", "Trigger: %v", err)
	}
	f, err := format.Compile(FormatSpec(m, dest))
	if err != nil {
		var fe *format.FieldError
		if errors.As(err, &fe) {
			field := fe.Field
			if field == "path_prefix" {
				field = "config.path_prefix"
			}
			return nil, &store.Error{Code: store.EINVALID, Field: field, Message: fe.Message}
		}
		return nil, fmt.Errorf("compile mapping: %w", err)
	}
	types, all := trig.Types()
	c := &Compiled{Mapping: m, Trigger: trig, Format: f, splitTypes: all || len(types) > 1, light: m.Format != store.FormatJSON,
		byEventHour: m.PartitionTime == store.PartitionTimeEvent && m.Format != store.FormatJSON,
		window:      time.Duration(m.PartitionWindowHours) * time.Hour}
	for _, root := range trig.Roots() {
		switch root {
		case "type", "topic":
		case "event":
			c.readsEvent = true
		default:
			c.light = false
		}
	}
	return c, nil
}

// columnsView is what a stored event shows of itself without decoding its
// body: exactly the fields a light trigger reads and the key layouts use.
// ok is false when the body must be decoded to see them faithfully.
func (c *Compiled) columnsView(e *store.Event) (map[string]any, bool) {
	if !c.light {
		return nil, false
	}
	if e.Kind == store.KindPublish {
		return map[string]any{"topic": e.Name}, true
	}
	// A track's event is its name column; other calls may carry an "event"
	// field too, which only the body shows.
	if e.Type == "track" {
		return map[string]any{"type": e.Type, "event": e.Name}, true
	}
	if c.readsEvent || c.Format.KeyFields().Event {
		return nil, false
	}
	return map[string]any{"type": e.Type}, true
}

// decodeEvent decodes a stored message for matching and encoding, keeping
// numbers exactly as they were sent.
func decodeEvent(body []byte) (map[string]any, error) {
	// goccy/go-json decodes the same JSON the same way as encoding/json, in
	// half the time: this runs for every event of every file.
	dec := gojson.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return m, nil
}

// partition names the file group an event belongs to within its mapping:
// events of different partitions never share a file, because the key names
// what they differ in (type, source, event name, hour). It reads only what
// the store keeps of the event, so routing it again after a restart gives
// the same partition.
func (c *Compiled) partition(e *store.Event, msg map[string]any) string {
	kf := c.Format.KeyFields()
	p := ""
	if c.splitTypes || kf.Type {
		p += "type=" + e.Type
	}
	if kf.Source {
		p += "|source=" + e.SourceID
	}
	if kf.Event {
		name, _ := msg["event"].(string)
		p += "|event=" + name
	}
	if c.byEventHour {
		p += "|hour=" + c.eventHour(e).Format("2006-01-02T15")
	}
	return p
}

// eventHour is the UTC hour whose files hold e when files are split by
// event time: the hour of its stored timestamp, or of its receipt when that
// is out of the mapping's window (see format.PartitionHour).
func (c *Compiled) eventHour(e *store.Event) time.Time {
	h, _ := format.PartitionHour(e.Timestamp, e.ReceivedAt, c.window)
	return h
}

// nameFile sets the key of the file d (sealed at d.CreatedAt) from its
// first event, sample, decoded as msg; for the json format also its headers.
func (c *Compiled) nameFile(d *store.Delivery, sample *store.Event, msg map[string]any) error {
	if c.Mapping.Format == store.FormatJSON {
		obj, err := c.Format.Object(msg, d.CreatedAt)
		if err != nil {
			return err
		}
		d.Key, d.ContentType, d.ContentEncoding = obj.Key, obj.ContentType, obj.ContentEncoding
		return nil
	}
	key, err := c.keyFor(d, sample, msg, d.CreatedAt)
	if err != nil {
		return err
	}
	d.Key = key
	return nil
}

// keyFor names a sealed file.
func (c *Compiled) keyFor(d *store.Delivery, sample *store.Event, msg map[string]any, sealed time.Time) (string, error) {
	in := format.KeyInput{Time: sealed, FileID: d.ID}
	if sample != nil {
		in.SourceID, in.Type = sample.SourceID, sample.Type
		in.Event, _ = msg["event"].(string)
		if c.byEventHour {
			// Every event of the file shares its first one's hour.
			in.PartitionTime = c.eventHour(sample)
		}
	}
	key, err := c.Format.Key(in)
	if err != nil {
		return "", fmt.Errorf("key of %s: %w", d.ID, err)
	}
	return key, nil
}

// encodeTo streams events, given as their stored JSON, into w as one file
// of rows rows. For parquet it returns the values written as null because
// they did not fit their column's type.
func (c *Compiled) encodeTo(w io.Writer, rows int, next func(func([]byte) error) error) ([]format.ColumnNulls, error) {
	enc, err := c.Format.NewFileEncoder(w, rows)
	if err != nil {
		return nil, err
	}
	if err := next(enc.EncodeJSON); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if pq, ok := enc.(*format.ParquetEncoder); ok {
		return pq.Nulls(), nil
	}
	return nil, nil
}
