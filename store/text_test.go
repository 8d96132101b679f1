package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/s3relay/s3relay/store"
)

// loneSurrogate returns the offset of the first \u escape of a surrogate
// that is not half of a valid pair, or -1.
func loneSurrogate(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' || i+6 > len(b) {
			i++
			continue
		}
		r, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil {
			i++
			continue
		}
		if !utf16.IsSurrogate(rune(r)) {
			i += 5
			continue
		}
		if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if lo, err := strconv.ParseUint(string(b[i+8:i+12]), 16, 16); err == nil && utf16.DecodeRune(rune(r), rune(lo)) != utf8.RuneError {
				i += 11
				continue
			}
		}
		return i
	}
	return -1
}

func TestNormalizeText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", `{"a":"b"}`, `{"a":"b"}`},
		{"valid UTF-8", `{"é":"🦄"}`, `{"é":"🦄"}`},
		{"escapes kept as sent", `{"a":"\u00e9\n\"\\"}`, `{"a":"\u00e9\n\"\\"}`},
		{"valid pair kept", `{"a":"\ud83e\udd84","b":"\uD83E\uDD84"}`, `{"a":"\ud83e\udd84","b":"\uD83E\uDD84"}`},
		{"invalid byte", "{\"a\":\"x\xffy\"}", "{\"a\":\"x\uFFFDy\"}"},
		{"each invalid byte", "{\"a\xc3\":\"\xe2\x82\"}", "{\"a\uFFFD\":\"\uFFFD\uFFFD\"}"},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\uFFFD\uFFFD\uFFFD\"}"},
		{"lone high surrogate", `{"a":"x\ud800y"}`, `{"a":"x\ufffdy"}`},
		{"lone low surrogate", `{"a":"\uDC00"}`, `{"a":"\ufffd"}`},
		{"high at the end", `{"a":"\ud800"}`, `{"a":"\ufffd"}`},
		{"two highs then a low", `{"a":"\ud800\ud800\udc00"}`, `{"a":"\ufffd\ud800\udc00"}`},
		{"high then an other escape", `{"a":"\ud800\u0041"}`, `{"a":"\ufffd\u0041"}`},
		{"in a key", `{"\udfff":1}`, `{"\ufffd":1}`},
		{"escaped backslash is not an escape", `{"a":"\\ud800"}`, `{"a":"\\ud800"}`},
		{"backslash before an invalid byte", "\"\\\xff\"", "\"\\\uFFFD\""},
		{"cut short", `"\ud80`, `"\ud80`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := store.NormalizeText([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Text that needs no change is returned as it is, not copied.
	in := []byte(`{"a":"\u00e9 é"}`)
	if got := store.NormalizeText(in); &got[0] != &in[0] {
		t.Errorf("valid text was copied")
	}
}

// FuzzNormalizeText checks that normalized text is always valid UTF-8
// without lone surrogate escapes, that normalizing twice changes nothing,
// and that valid JSON stays valid and decodes (with encoding/json, which
// replaces the same way) to the same value.
//
//fuzz:budget 100000x
func FuzzNormalizeText(f *testing.F) {
	for _, s := range []string{`{"a":"x\ud800y"}`, "{\"a\":\"\xff\"}", `{"a":"\ud83e\udd84"}`, `"\\ud800"`,
		`["\ud800\ud800\udc00", "\udc00\ud800"]`, "\\\xff", `{"k\uDBFF\uDFFF":"\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out := store.NormalizeText(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("the input was modified")
		}
		if !utf8.Valid(out) {
			t.Fatalf("%q gave invalid UTF-8 %q", in, out)
		}
		if i := loneSurrogate(out); i >= 0 {
			t.Fatalf("%q gave %q with a lone surrogate at %d", in, out, i)
		}
		if again := store.NormalizeText(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q, then %q", out, again)
		}
		if json.Valid(in) != json.Valid(out) {
			t.Fatalf("validity changed: %q (%v) gave %q", in, json.Valid(in), out)
		}
		if json.Valid(in) {
			var a, b any
			json.Unmarshal(in, &a)
			json.Unmarshal(out, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%q decodes to %v, normalized %q to %v", in, a, out, b)
			}
		}
	})
}

// BenchmarkNormalizeText measures the quick scan of a typical track call,
// which needs no change: it runs on every ingestion request.
func BenchmarkNormalizeText(b *testing.B) {
	msg := []byte(`{"type":"track","messageId":"bench-1-2","userId":"user-3","event":"Order Completed",` +
		`"timestamp":"2026-03-01T12:00:00.000Z","properties":{"order_id":"o-4","total":5.95,"currency":"EUR","coupon":null,` +
		`"products":[{"sku":"p-1","qty":2,"name":"Caf\u00e9 cr\u00e8me"}]},"context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for range b.N {
		store.NormalizeText(msg)
	}
}

// Events given to previews and test sends are normalized like ingested ones.
func TestStoredFormNormalizesText(t *testing.T) {
	got, err := store.StoredForm([]byte("{\"b\":\"\xff\\ud800\",\"a\":1}"))
	if err != nil || string(got) != `{"a":1,"b":"`+"\uFFFD"+`\ufffd"}` {
		t.Errorf("StoredForm = %q, %v", got, err)
	}
}

// BenchmarkParseSegmentBatch decodes a typical 100-event batch, the
// normalization's quick scan included.
func BenchmarkParseSegmentBatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"batch":[`)
	for j := range 100 {
		if j > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"track","messageId":"bench-%d","userId":"user-%d","event":"Order Completed",`+
			`"timestamp":"2026-03-01T12:00:00.000Z","properties":{"order_id":"o-%d","total":%d.95,"currency":"EUR","coupon":null,"products":[{"sku":"p-1","qty":2}]}}`,
			j, j%97, j, j)
	}
	sb.WriteString(`],"context":{"library":{"name":"analytics-go","version":"3.3.0"}},"sentAt":"2026-03-01T12:00:01.000Z"}`)
	body := []byte(sb.String())
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		if _, err := store.ParseSegment(body, "batch", now); err != nil {
			b.Fatal(err)
		}
	}
}
