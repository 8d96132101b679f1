package web

import (
	"encoding/base64"
	"unicode/utf8"
)

// Flash messages are plain text in a cookie; base64 keeps any character safe
// inside a cookie value, and they are rendered escaped like any other text.
func encodeFlash(msg string) string { return base64.RawURLEncoding.EncodeToString([]byte(msg)) }

func decodeFlash(v string) string {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || !utf8.Valid(b) || len(b) > 500 {
		return ""
	}
	return string(b)
}
