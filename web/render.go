package web

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// render writes a templ component as the response. The page is rendered into
// a buffer first, so a failing render never sends half a page.
func (s *Server) render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page returns the layout's view model for a request.
func (s *Server) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav}
	p.CSRF, _ = c.Get(csrfCtxKey).(string)
	p.DiskFullSince, p.DiskFull = s.db.DiskFull()
	if u := currentUser(c); u != nil {
		p.User = u.Email
	}
	if ck, err := c.Cookie(flashCookie); err == nil {
		p.Flash = s.decodeFlash(ck.Value)
		c.SetCookie(&http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
	return p
}

// flashCookie carries a one-time notice across a post/redirect/get.
const flashCookie = "s3relay_flash"

// redirectWithFlash answers a successful form post: 303 to the target page,
// which shows msg once.
func (s *Server) redirectWithFlash(c echo.Context, target, msg string) error {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: s.encodeFlash(msg), Path: "/", MaxAge: 60, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, target)
}

// formErrors turns a validation error into messages next to form fields.
// fieldMap renames store fields to the form's input names where they differ.
func formErrors(err error, fieldMap map[string]string) views.FormErrors {
	field := store.ErrorField(err)
	if f, ok := fieldMap[field]; ok {
		field = f
	}
	return views.FormErrors{field: store.ErrorMessage(err)}
}
