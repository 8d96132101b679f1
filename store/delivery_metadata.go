package store

import (
	"sort"
	"strings"
)

// MaxDeliveryMetadataBytes bounds a destination's delivery metadata, names
// and values together: S3 allows 2 KB of user metadata per object, and the
// rest is left for the entries s3relay sets (event id, topic, times) and
// the event's own metadata.
const MaxDeliveryMetadataBytes = 1536

// NormalizeDeliveryMetadata checks a destination's delivery metadata and
// returns it with its names lowercased (S3 stores and returns user metadata
// names in lower case), nil when empty. Names are letters, digits, '-', '_'
// and '.'; values are printable ASCII without spaces at either end (HTTP
// headers carry them, and S3 would trim such spaces); both are required.
// Errors are EINVALID on "delivery_metadata".
func NormalizeDeliveryMetadata(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]string, len(m))
	size := 0
	for _, name := range names {
		value := m[name]
		lower := strings.ToLower(name)
		switch {
		case name == "":
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata names must not be empty.")
		case !metadataName(name):
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata name %q: use only letters, digits, '-', '_' and '.' (S3 sends names as HTTP headers).", name)
		case value == "":
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata %q needs a value.", name)
		case !printableASCII(value):
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata %q: the value must be printable ASCII (no line breaks, tabs or other characters), as S3 user metadata is sent in HTTP headers.", name)
		case strings.TrimSpace(value) != value:
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata %q: the value must not start or end with a space (S3 would trim it).", name)
		}
		if _, dup := out[lower]; dup {
			return nil, FieldErrorf("delivery_metadata", "Delivery metadata name %q repeats another name: S3 lowercases names, so they would be the same.", name)
		}
		out[lower] = value
		size += len(lower) + len(value)
	}
	if size > MaxDeliveryMetadataBytes {
		return nil, FieldErrorf("delivery_metadata", "Delivery metadata is %d bytes (names and values); at most %d fit, leaving room within S3's 2 KB of user metadata for the event id, topic and times.", size, MaxDeliveryMetadataBytes)
	}
	return out, nil
}

func metadataName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
