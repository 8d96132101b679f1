package format

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/tidwall/gjson"
)

// Encoder writes one csv, txt or jsonl file row by row, holding one row in
// memory at a time. It is not safe for concurrent use.
type Encoder struct {
	f     *Format
	out   io.Writer
	zw    *gzip.Writer
	rows  int
	n     int
	err   error
	line  []byte
	cell  []byte
	json  *jsonWriter
	count []byte
	top   members
}

// NewEncoder starts a file of exactly rows events on w (the count goes into
// the batch size column). A csv/txt header is written at once. Close must be
// called to finish the file; it does not close w.
func (f *Format) NewEncoder(w io.Writer, rows int) (*Encoder, error) {
	if f.spec.Format == JSON {
		return nil, errors.New("the json format writes one object per event: use Object")
	}
	if rows < 0 {
		return nil, fmt.Errorf("row count %d is negative", rows)
	}
	e := &Encoder{f: f, out: w, rows: rows, json: newJSONWriter()}
	if f.spec.Compression == Gzip {
		e.zw = gzip.NewWriter(w)
		e.out = e.zw
	}
	e.count = strconv.AppendInt(nil, int64(rows), 10)
	if f.spec.Format == CSV || f.spec.Format == TXT {
		if _, err := e.out.Write(f.header); err != nil {
			return nil, fmt.Errorf("write header: %w", err)
		}
	}
	return e, nil
}

// Encode writes the next event. After an error every later call returns it.
// The event is written as its JSON encoding (keys sorted) would be by
// EncodeJSON.
func (e *Encoder) Encode(event map[string]any) error {
	if e.err != nil {
		return e.err
	}
	raw, err := e.json.append(nil, positiveZero(event))
	if err != nil {
		e.err = fmt.Errorf("encode row %d: %w", e.n+1, err)
		return e.err
	}
	return e.EncodeJSON(raw)
}

// EncodeJSON writes the next event, given as a JSON object (a stored
// event's body). Only the values the columns name are read; the rest of the
// event is never decoded. After an error every later call returns it.
func (e *Encoder) EncodeJSON(event []byte) error {
	if e.err != nil {
		return e.err
	}
	if e.n == e.rows {
		return fmt.Errorf("the file was started for %d rows", e.rows)
	}
	e.line = e.line[:0]
	var err error
	if e.f.spec.Format == JSONL {
		// NDJSON: every line ends with "\n", the last one too, so that files
		// concatenate into one valid stream and wc -l counts their events.
		e.line = appendCompact(e.line, string(event))
		e.line = append(e.line, '\n')
	} else {
		// csv and txt rows are joined by "\n" with none after the last, as
		// Segment's S3 action writes them.
		if e.n > 0 {
			e.line = append(e.line, '\n')
		}
		err = e.appendRow(event)
	}
	if err == nil {
		_, err = e.out.Write(e.line)
	}
	if err != nil {
		e.err = fmt.Errorf("encode row %d: %w", e.n+1, err)
		return e.err
	}
	e.n++
	return nil
}

func (e *Encoder) appendRow(event []byte) error {
	root := gjson.Parse(string(event))
	if !root.IsObject() {
		return errors.New("the event is not a JSON object")
	}
	// The top level is read once; every column starts from it.
	e.top = e.top.read(root)
	// JMESPath expressions read the decoded event, decoded once per row and
	// only when a column needs it.
	var d *doc
	f := e.f
	for i, c := range f.columns {
		if i > 0 {
			e.line = append(e.line, f.delim)
		}
		if c.value.jp == nil {
			e.cell = appendRawText(e.cell[:0], e.top.value(root, c.value))
		} else {
			if d == nil {
				decoded, err := decodeJSON(event)
				if err != nil {
					return err
				}
				d = &doc{raw: decoded}
			}
			var err error
			if e.cell, err = e.json.appendText(e.cell[:0], c.value.eval(d)); err != nil {
				return err
			}
		}
		e.cell = c.transform.apply(e.cell)
		e.line = appendQuoted(e.line, e.cell)
	}
	if f.audience {
		e.cell = appendRawText(e.cell[:0], audienceAction(e.top, root))
		e.line = append(e.line, f.delim)
		e.line = appendQuoted(e.line, e.cell)
	}
	if f.batchSize {
		e.line = append(e.line, f.delim)
		e.line = appendQuoted(e.line, e.count)
	}
	return nil
}

// Close checks that all declared rows were written and flushes gzip.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.n != e.rows {
		e.err = fmt.Errorf("the file was started for %d rows but got %d", e.rows, e.n)
		return e.err
	}
	if e.zw != nil {
		if err := e.zw.Close(); err != nil {
			e.err = fmt.Errorf("finish gzip: %w", err)
			return e.err
		}
	}
	e.err = errors.New("the file is closed")
	return nil
}

// EncodeAll encodes a whole csv, txt or jsonl file in memory.
func (f *Format) EncodeAll(events []map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := f.NewEncoder(&buf, len(events))
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeAll compiles spec and encodes a whole csv, txt or jsonl file.
func EncodeAll(spec Spec, events []map[string]any) ([]byte, error) {
	f, err := Compile(spec)
	if err != nil {
		return nil, err
	}
	return f.EncodeAll(events)
}

// appendQuoted writes s double-quoted with inner quotes doubled.
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, b := range s {
		if b == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, b)
	}
	return append(dst, '"')
}

// audienceAction is Segment's audience action value: properties (or traits
// when properties is null) at the key context.personas.computation_key.
func audienceAction(top members, event gjson.Result) gjson.Result {
	key := top.lookup(event, []step{{key: "context"}, {key: "personas"}, {key: "computation_key"}})
	if key.Type != gjson.String || key.Str == "" {
		return gjson.Result{}
	}
	holder := top.lookup(event, []step{{key: "properties"}})
	if holder.Type == gjson.Null {
		holder = top.lookup(event, []step{{key: "traits"}})
	}
	return lookupRaw(holder, []step{{key: key.Str}})
}

// positiveZero returns a copy of v with float64 negative zeros made 0,
// which JavaScript's String(number) prints as "0" and encoding/json as "-0".
func positiveZero(v any) any {
	return mapLeaves(v, func(x any) any {
		if f, ok := x.(float64); ok && f == 0 {
			return float64(0)
		}
		return x
	})
}

// decodeJSON decodes an event for JMESPath, keeping numbers exactly.
func decodeJSON(event []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return v, nil
}
