package format_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/format"
)

// MustCompile compiles spec or fails the test.
func MustCompile(tb testing.TB, spec format.Spec) *format.Format {
	tb.Helper()
	f, err := format.Compile(spec)
	if err != nil {
		tb.Fatalf("Compile(%+v): %v", spec, err)
	}
	return f
}

// MustEvent decodes a JSON object with json.Number numbers, as the store does.
func MustEvent(tb testing.TB, src string) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		tb.Fatalf("decode %s: %v", src, err)
	}
	return ev
}

// MustFloatEvent decodes a JSON object with float64 numbers.
func MustFloatEvent(tb testing.TB, src string) map[string]any {
	tb.Helper()
	var ev map[string]any
	if err := json.Unmarshal([]byte(src), &ev); err != nil {
		tb.Fatalf("decode %s: %v", src, err)
	}
	return ev
}

// MustEncodeAll encodes events with f or fails the test.
func MustEncodeAll(tb testing.TB, f *format.Format, events ...map[string]any) string {
	tb.Helper()
	b, err := f.EncodeAll(events)
	if err != nil {
		tb.Fatalf("EncodeAll: %v", err)
	}
	return string(b)
}

// MustGunzip decompresses b or fails the test.
func MustGunzip(tb testing.TB, b []byte) string {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("gzip reader: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

// fieldOf returns the Field of a *format.FieldError, or "" for other errors.
func fieldOf(err error) string {
	var fe *format.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// checkObjectHeaders compares f's extension, Content-Type and Content-Encoding.
func checkObjectHeaders(tb testing.TB, f *format.Format, ext, contentType, contentEncoding string) {
	tb.Helper()
	checks := []struct{ name, got, want string }{
		{"extension", f.Extension(), ext},
		{"content type", f.ContentType(), contentType},
		{"content encoding", f.ContentEncoding(), contentEncoding},
	}
	for _, c := range checks {
		if c.got != c.want {
			tb.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}
