package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Flash messages are plain text in a cookie, signed: base64 keeps any
// character safe inside a cookie value, and the HMAC under the data dir's
// flash key means only this server can put a notice on a page. A forged or
// unsigned value shows nothing. They are rendered escaped like any other text.
func (s *Server) encodeFlash(msg string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + s.flashMAC(msg)
}

func (s *Server) decodeFlash(v string) string {
	enc, mac, ok := strings.Cut(v, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !utf8.Valid(b) || len(b) > 500 {
		return ""
	}
	if !hmac.Equal([]byte(mac), []byte(s.flashMAC(string(b)))) {
		return ""
	}
	return string(b)
}

func (s *Server) flashMAC(msg string) string {
	m := hmac.New(sha256.New, s.keys.Flash)
	m.Write([]byte("flash\x00" + msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
