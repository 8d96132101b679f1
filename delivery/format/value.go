package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// jsonWriter appends compact JSON without HTML escaping, the way
// JavaScript's JSON.stringify writes '<', '>' and '&'. It reuses one buffer.
type jsonWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter() *jsonWriter {
	w := &jsonWriter{}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	return w
}

func (w *jsonWriter) append(dst []byte, v any) ([]byte, error) {
	w.buf.Reset()
	if err := w.enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode JSON: %w", err)
	}
	// json.Encoder ends every value with a newline.
	return append(dst, bytes.TrimSuffix(w.buf.Bytes(), []byte{'\n'})...), nil
}

// appendText appends the text form of v that Segment's S3 action writes
// into a cell: nothing for null, strings as they are, numbers and booleans
// as String(value) does, objects and arrays as JSON.
func (w *jsonWriter) appendText(dst []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return dst, nil
	case string:
		return append(dst, t...), nil
	case bool:
		return strconv.AppendBool(dst, t), nil
	case json.Number:
		return append(dst, t...), nil
	case float64:
		return appendNumber(dst, t), nil
	case int:
		return strconv.AppendInt(dst, int64(t), 10), nil
	case int64:
		return strconv.AppendInt(dst, t, 10), nil
	case uint64:
		return strconv.AppendUint(dst, t, 10), nil
	}
	return w.append(dst, v)
}

// appendNumber writes f as JavaScript's String(number) does. JSON has no
// NaN or Infinity, but JMESPath arithmetic can produce them.
func appendNumber(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		// JavaScript prints negative zero as "0"; encoding/json keeps the sign.
		return append(dst, '0')
	}
	// encoding/json formats float64 with the ECMAScript algorithm.
	b, _ := json.Marshal(f)
	return append(dst, b...)
}

// text returns the text form of v as a string.
func text(v any) (string, error) {
	b, err := newJSONWriter().appendText(nil, v)
	return string(b), err
}
