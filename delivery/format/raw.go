package format

import (
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/pretty"

	"github.com/s3relay/s3relay/store"
)

// Events are encoded from their stored JSON without decoding it into maps:
// a plain path is walked over the bytes and only the value it names is read.
// Nested objects and arrays are written as they were sent, keys in the
// sender's order, without white space, as Segment's JSON.stringify writes
// them. The JSON is valid: the store checked it when the event arrived.

// lookupRaw returns the value at path in the JSON value v; Exists is false
// when there is none. A key that appears twice in an object names its last
// value, as encoding/json and JavaScript read it. A negative index counts
// from the end of an array.
func lookupRaw(v gjson.Result, path []step) gjson.Result {
	for _, s := range path {
		if s.isIndex {
			if !v.IsArray() {
				return gjson.Result{}
			}
			i := s.index
			if i < 0 {
				n := 0
				v.ForEach(func(_, _ gjson.Result) bool { n++; return true })
				i += n
			}
			var found gjson.Result
			n := 0
			v.ForEach(func(_, item gjson.Result) bool {
				if n == i {
					found = item
					return false
				}
				n++
				return true
			})
			v = found
			continue
		}
		if !v.IsObject() {
			return gjson.Result{}
		}
		var found gjson.Result
		v.ForEach(func(key, value gjson.Result) bool {
			if key.Str == s.key {
				found = value
			}
			return true
		})
		v = found
	}
	return v
}

// members are the keys and values of an object's top level, read once so
// that many lookups do not each scan the whole object.
type members []member

type member struct {
	key   string
	value gjson.Result
}

// read replaces ms with the members of the object v, reusing its memory.
func (ms members) read(v gjson.Result) members {
	ms = ms[:0]
	v.ForEach(func(key, value gjson.Result) bool {
		ms = append(ms, member{key.Str, value})
		return true
	})
	return ms
}

// value is the value of a path expression (a plain path or not_null of
// plain paths) on the object v whose members are ms.
func (ms members) value(v gjson.Result, e expr) gjson.Result {
	if e.alts == nil {
		return ms.lookup(v, e.path)
	}
	for _, p := range e.alts {
		if r := ms.lookup(v, p); r.Type != gjson.Null {
			return r
		}
	}
	return gjson.Result{}
}

// lookup is lookupRaw on the object v whose members are ms.
func (ms members) lookup(v gjson.Result, path []step) gjson.Result {
	if len(path) == 0 {
		return v
	}
	if path[0].isIndex {
		return gjson.Result{}
	}
	var found gjson.Result
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == path[0].key {
			found = ms[i].value
			break
		}
	}
	return lookupRaw(found, path[1:])
}

// appendRawText appends the text form of a JSON value, as appendText does
// for a decoded one: nothing for null or a missing value, strings as they
// are, numbers as they were sent, objects and arrays as compact JSON.
func appendRawText(dst []byte, v gjson.Result) []byte {
	switch v.Type {
	case gjson.Null:
		return dst
	case gjson.String:
		return appendValidUTF8(dst, v.Str)
	case gjson.True:
		return append(dst, "true"...)
	case gjson.False:
		return append(dst, "false"...)
	case gjson.Number:
		return append(dst, v.Raw...)
	}
	return appendCompact(dst, v.Raw)
}

// appendCompact appends JSON without the white space between its tokens;
// strings keep their escapes, but for those of lone surrogates, which become
// \ufffd, and bytes that are not UTF-8 become U+FFFD (see store.NormalizeText).
func appendCompact(dst []byte, raw string) []byte {
	start := len(dst)
	dst = append(dst, raw...)
	out := pretty.UglyInPlace(dst[start:])
	dst = dst[:start+len(out)]
	// Ingestion normalizes text, but events stored before it did may hold
	// invalid UTF-8 or lone surrogate escapes, which strict readers refuse.
	if fixed := store.NormalizeText(dst[start:]); len(fixed) > 0 && &fixed[0] != &dst[start] {
		dst = append(dst[:start], fixed...)
	}
	return dst
}

// appendValidUTF8 appends s with every byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json does when it reads a string.
func appendValidUTF8(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
