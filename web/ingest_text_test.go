package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/store"
)

// hasLoneSurrogate reports whether JSON text holds a \u escape of a
// surrogate that is not half of a valid pair.
func hasLoneSurrogate(b []byte) bool {
	var units []uint16
	flush := func() bool {
		for i := 0; i < len(units); i++ {
			u := rune(units[i])
			if !utf16.IsSurrogate(u) {
				continue
			}
			if i+1 < len(units) && utf16.DecodeRune(u, rune(units[i+1])) != utf8.RuneError {
				i++
				continue
			}
			return true
		}
		units = units[:0]
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && b[i+1] == 'u' {
			var u uint16
			for _, c := range b[i+2 : i+6] {
				switch {
				case c >= '0' && c <= '9':
					u = u<<4 | uint16(c-'0')
				default:
					u = u<<4 | uint16(c|0x20-'a'+10)
				}
			}
			units = append(units, u)
			i += 5
			continue
		}
		if b[i] == '\\' {
			i++
		}
		if flush() {
			return true
		}
	}
	return flush()
}

// mustBeCleanJSON fails unless b is valid JSON in valid UTF-8 without a
// lone surrogate escape.
func mustBeCleanJSON(tb testing.TB, what string, b []byte) {
	tb.Helper()
	if !utf8.Valid(b) || !json.Valid(b) || hasLoneSurrogate(b) {
		tb.Errorf("%s is not clean JSON: %q", what, b)
	}
}

func TestIngestedTextIsValidUTF8JSON(t *testing.T) {
	e := MustEnv(t)
	src := e.mustSource(t, "web")
	// Raw invalid bytes and lone surrogates in keys and values, at the top
	// level, nested, and in the context a batch shares with its messages.
	const dirty = "x\xffy\\ud800z\\udc00"
	track := `{"userId": "u` + "\xfe" + `", "event": "Order ` + dirty + `", "k` + dirty + `": "` + dirty + `",
		"properties": {"` + dirty + `": ["` + dirty + `", {"n` + dirty + `": 1}], "pair": "\ud83e\udd84"},
		"context": {"page": {"title": "` + dirty + `"}}}`
	batch := `{"batch": [{"type": "identify", "userId": "u2", "traits": {"name": "` + dirty + `"}},
		{"type": "track", "userId": "u3", "event": "E` + dirty + `", "context": {"ip": "` + dirty + `"}}],
		"context": {"library": {"name": "` + dirty + `"}, "k` + dirty + `": true}}`
	publish := `{"topic": "t` + dirty + `", "data": {"` + dirty + `": {"v": "` + dirty + `"}}, "metadata": {"m` + dirty + `": "` + dirty + `"}}`
	for _, r := range []struct{ path, body string }{
		{"/v1/track", track},
		{"/v1/batch", batch},
		{"/api/v1/publish", publish},
	} {
		header := map[string]string{}
		key := src.WriteKey
		if r.path == "/api/v1/publish" {
			header["Authorization"], key = "Bearer "+src.WriteKey, ""
		}
		if resp, out := e.ingest(t, r.path, key, []byte(r.body), header); resp.StatusCode >= 300 {
			t.Fatalf("%s: %d %s", r.path, resp.StatusCode, out)
		}
	}
	events, _, err := e.DB.ListEvents(context.Background(), store.EventFilter{SourceID: src.ID, Limit: 10})
	if err != nil || len(events) != 4 {
		t.Fatalf("stored %d events, want 4: %v", len(events), err)
	}
	jsonl, err := format.Compile(format.Spec{Format: format.JSONL})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	enc, err := jsonl.NewEncoder(&file, len(events))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		mustBeCleanJSON(t, "stored "+ev.Type, ev.Body)
		if !utf8.ValidString(ev.Name) || !utf8.ValidString(ev.ID) {
			t.Errorf("stored %s: name %q, message id %q", ev.Type, ev.Name, ev.ID)
		}
		if err := enc.EncodeJSON(ev.Body); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "track" && ev.Name == "Order x\uFFFDy\uFFFDz\uFFFD" && !strings.Contains(string(ev.Body), `"\ud83e\udd84"`) {
			t.Errorf("a valid surrogate pair was not kept as sent: %s", ev.Body)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("jsonl file has %d lines, want 4", len(lines))
	}
	for _, line := range lines {
		mustBeCleanJSON(t, "jsonl line", []byte(line))
	}
	names := map[string]bool{}
	for _, ev := range events {
		names[ev.Name] = true
	}
	for _, want := range []string{"Order x\uFFFDy\uFFFDz\uFFFD", "Ex\uFFFDy\uFFFDz\uFFFD", "tx\uFFFDy\uFFFDz\uFFFD"} {
		if !names[want] {
			t.Errorf("no stored event is named %q: %v", want, names)
		}
	}
}

// Events given to a preview are normalized as ingested ones are.
func TestPreviewEventsAreNormalized(t *testing.T) {
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "raw", "format": "jsonl"}`)
	p := r.mustPreview(t, m.ID, "{\"events\": [{\"type\": \"track\", \"event\": \"E\xff\", \"userId\": \"u\", \"properties\": {\"p\": \"\\ud800\", \"q\": \"\\ud83e\\udd84\"}}]}")
	if len(p.Objects) != 1 {
		t.Fatalf("preview: %+v", p)
	}
	body := bytesOf(t, p, 0)
	mustBeCleanJSON(t, "preview row", body)
	if !strings.Contains(string(body), `"E`+"\uFFFD"+`"`) || !strings.Contains(string(body), `"\ufffd"`) || !strings.Contains(string(body), `"\ud83e\udd84"`) {
		t.Errorf("preview row %s", body)
	}
}
