package web

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// setupAlphabet leaves out look-alike characters: the code is typed from a log.
const setupAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newSetupCode returns a one-time code of 12 characters (60 bits), shown as
// three groups of four.
func newSetupCode() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // crypto/rand.Read never fails on supported platforms
	}
	var sb strings.Builder
	for i, v := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(setupAlphabet[int(v)%len(setupAlphabet)])
	}
	return sb.String()
}

// normalizeSetupCode forgives case, spaces and dashes in a typed code.
func normalizeSetupCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// needsSetup reports whether no user exists yet.
func (s *Server) needsSetup(c echo.Context) (bool, error) {
	n, err := s.db.CountUsers(c.Request().Context())
	return n == 0, err
}

func (s *Server) handleSetupForm(c echo.Context) error {
	need, err := s.needsSetup(c)
	if err != nil {
		return err
	}
	if !need {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.render(c, http.StatusOK, views.Setup(views.SetupView{Page: s.page(c, "Set up s3relay", "")}))
}

func (s *Server) handleSetup(c echo.Context) error {
	need, err := s.needsSetup(c)
	if err != nil {
		return err
	}
	if !need {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	v := views.SetupView{Page: s.page(c, "Set up s3relay", ""), Email: strings.TrimSpace(c.FormValue("email"))}
	if !s.logins.allow("setup:" + remoteIP(c.Request())) {
		v.Errors = views.FormErrors{"": "Too many attempts. Wait a minute and try again."}
		return s.render(c, http.StatusTooManyRequests, views.Setup(v))
	}
	s.setupMu.Lock()
	code := s.setupCode
	s.setupMu.Unlock()
	typed := normalizeSetupCode(c.FormValue("code"))
	if code == "" || subtle.ConstantTimeCompare([]byte(typed), []byte(normalizeSetupCode(code))) != 1 {
		v.Errors = views.FormErrors{"code": "This is not the setup code. Copy it from the server's log, on the line that contains setup_code=."}
		return s.render(c, http.StatusUnprocessableEntity, views.Setup(v))
	}
	u, err := s.db.CreateFirstUser(c.Request().Context(), v.Email, c.FormValue("password"))
	if err != nil {
		if store.ErrorCode(err) == store.EINTERNAL {
			return err
		}
		if store.ErrorCode(err) == store.ECONFLICT && store.ErrorField(err) == "" {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		v.Errors = formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Setup(v))
	}
	s.setupMu.Lock()
	s.setupCode = ""
	s.setupMu.Unlock()
	s.log.Info("administrator created through the setup page", "email", u.Email)
	if err := s.signIn(c, u.ID); err != nil {
		return err
	}
	return s.redirectWithFlash(c, "/", "Welcome to s3relay. Start by creating a source.")
}

func (s *Server) handleLoginForm(c echo.Context) error {
	if need, err := s.needsSetup(c); err != nil {
		return err
	} else if need {
		return c.Redirect(http.StatusSeeOther, "/setup")
	}
	if u, err := s.sessionUser(c.Request().Context(), c.Request()); err != nil {
		return err
	} else if u != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return s.render(c, http.StatusOK, views.Login(views.LoginView{Page: s.page(c, "Sign in", ""), Next: safeNext(c.QueryParam("next"))}))
}

func (s *Server) handleLogin(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	v := views.LoginView{Page: s.page(c, "Sign in", ""), Email: email, Next: safeNext(c.FormValue("next"))}
	if !s.logins.allow("ip:"+remoteIP(c.Request()), "email:"+strings.ToLower(email)) {
		v.Errors = views.FormErrors{"": "Too many sign-in attempts. Wait a minute and try again."}
		return s.render(c, http.StatusTooManyRequests, views.Login(v))
	}
	u, err := s.db.Authenticate(c.Request().Context(), email, c.FormValue("password"))
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		v.Errors = views.FormErrors{"password": store.ErrorMessage(err)}
		return s.render(c, http.StatusUnauthorized, views.Login(v))
	}
	if err != nil {
		return err
	}
	if err := s.signIn(c, u.ID); err != nil {
		return err
	}
	s.log.Info("signed in", "email", u.Email, "remote", remoteIP(c.Request()))
	return c.Redirect(http.StatusSeeOther, v.Next)
}

func (s *Server) handleLogout(c echo.Context) error {
	if err := s.signOut(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps post-sign-in redirects on this site: only a local path is
// accepted, never "//host" or "/\host", which browsers treat as another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
