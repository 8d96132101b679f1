package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// draftCookie carries a new destination's wizard fields between its steps,
// so that each step's form answers with a redirect to the next step's own
// address (post/redirect/get): Back, Forward and reload show the right step
// with its values. Secrets never go into it: the access step, which has
// them, creates the destination in the same request.
const draftCookie = "s3relay_draft"

// draftFields are the wizard fields a draft keeps.
var draftFields = []string{
	"name", "source_ids", "bucket", "region", "custom_region", "endpoint", "force_path_style", "path_prefix",
	"storage_class", "server_side_encryption", "kms_key_id", "delivery_metadata", "auth", "role_arn", "external_id",
}

// draftCreated is the draft value naming the destination its access step
// created: the wizard's earlier addresses then open that destination's steps.
const draftCreated = "_created"

// readDraft returns the request's draft; an empty one when there is none or
// it was not signed by this server.
func (s *Server) readDraft(c echo.Context) formValues {
	ck, err := c.Cookie(draftCookie)
	if err != nil {
		return formValues{}
	}
	enc, mac, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return formValues{}
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(mac), []byte(s.draftMAC(b))) {
		return formValues{}
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return formValues{}
	}
	return formValues(v)
}

// saveDraft keeps the draft's wizard fields for the next request.
func (s *Server) saveDraft(c echo.Context, f formValues) {
	keep := url.Values{}
	for name, vs := range f {
		if slices.Contains(draftFields, name) || name == draftCreated {
			keep[name] = vs
		}
	}
	b := []byte(keep.Encode())
	c.SetCookie(&http.Cookie{Name: draftCookie, Value: base64.RawURLEncoding.EncodeToString(b) + "." + s.draftMAC(b),
		Path: "/destinations/new", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// clearDraft starts a new destination from blank fields.
func (s *Server) clearDraft(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: draftCookie, Path: "/destinations/new", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Server) draftMAC(b []byte) string {
	m := hmac.New(sha256.New, s.keys.Flash)
	m.Write([]byte("draft\x00"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// mergeDraft lays a step's submitted form over the draft: the step's own
// fields are what was sent (an unchecked box sends nothing), and any other
// wizard field sent along replaces the draft's.
func mergeDraft(draft, form formValues, step wizardStep) formValues {
	out := formValues{}
	for k, v := range draft {
		if k != draftCreated {
			out[k] = v
		}
	}
	for _, name := range step.fields {
		delete(out, name)
	}
	for k, v := range form {
		out[k] = v
	}
	return out
}
