package store

import (
	"unicode"
	"unicode/utf8"
)

// plainText reports whether s is valid UTF-8 without control characters
// (C0 such as NUL and line breaks, DEL, C1). Names and emails are shown in
// pages, logs and the CLI, where such characters hide or forge text.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// notPlainText is the message of a field that fails plainText.
const notPlainText = "%s must be UTF-8 text without control characters such as NUL, tabs or line breaks."
