package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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

// setupCodeFile is the name, in the data dir, of the file that keeps the
// setup code until it is used.
const setupCodeFile = "setup-code"

// loadSetupCode returns the setup code kept in the data dir, or makes a new
// one and keeps it there (mode 0600): a code copied from an earlier run's log
// still works until an administrator exists. On PostgreSQL the code is the
// database's, the same for every replica (whichever started first made it),
// so that the setup page accepts it through any replica behind a balancer.
func (s *Server) loadSetupCode(ctx context.Context) (string, error) {
	if s.db.Postgres() {
		return s.db.SetupCode(ctx, newSetupCode)
	}
	if s.cfg.DataDir == "" {
		return newSetupCode(), nil
	}
	path := filepath.Join(s.cfg.DataDir, setupCodeFile)
	if b, err := os.ReadFile(path); err == nil {
		if code := strings.TrimSpace(string(b)); len(normalizeSetupCode(code)) == 12 {
			return code, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read setup code: %w", err)
	}
	code := newSetupCode()
	if err := os.WriteFile(path, []byte(code+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep setup code: %w", err)
	}
	return code, nil
}

// forgetSetupCode ends the setup code for good, once an administrator exists.
func (s *Server) forgetSetupCode(ctx context.Context) {
	s.setupMu.Lock()
	s.setupCode = ""
	s.setupMu.Unlock()
	if err := s.db.ForgetSetupCode(ctx); err != nil {
		s.log.Warn("could not remove the used setup code", "err", err)
	}
	if s.cfg.DataDir == "" {
		return
	}
	if err := os.Remove(filepath.Join(s.cfg.DataDir, setupCodeFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("could not remove the used setup code", "err", err)
	}
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
	if !s.logins.take("setup:" + addressKey(remoteIP(c.Request()))) {
		v.Errors = views.FormErrors{"": "Too many attempts. Wait a minute and try again."}
		return s.render(c, http.StatusTooManyRequests, views.Setup(v))
	}
	s.setupMu.Lock()
	code := s.setupCode
	s.setupMu.Unlock()
	typed := normalizeSetupCode(c.FormValue("code"))
	if code == "" || subtle.ConstantTimeCompare([]byte(typed), []byte(normalizeSetupCode(code))) != 1 {
		v.Errors = views.FormErrors{"code": "This is not the setup code. Copy it from the server's log, on the line that contains setup_code= (12 letters and digits, as XXXX-XXXX-XXXX); the code stays the same across restarts until it is used."}
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
	s.forgetSetupCode(c.Request().Context())
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

// handleLogin checks a sign-in. Its limits are ordered so that nothing an
// unauthenticated client sends grows the server's memory: an email too long
// to exist is refused first, then the client address's bucket is charged, and
// only a real failed password check (a user's email, a wrong password) is
// charged to the email's bucket. The email's limit does not apply to a
// browser where that user signed in before (its known-device cookie), so a
// stranger guessing the admin's password cannot lock the admin out.
func (s *Server) handleLogin(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	v := views.LoginView{Page: s.page(c, "Sign in", ""), Email: email, Next: safeNext(c.FormValue("next"))}
	if len(email) > store.MaxEmailLen {
		v.Email = ""
		v.Errors = views.FormErrors{"email": fmt.Sprintf("Email must be at most %d bytes.", store.MaxEmailLen)}
		return s.render(c, http.StatusUnprocessableEntity, views.Login(v))
	}
	ip := remoteIP(c.Request())
	if !s.logins.take(addressKey(ip)) {
		v.Errors = views.FormErrors{"": "Too many sign-in attempts. Wait a minute and try again."}
		return s.render(c, http.StatusTooManyRequests, views.Login(v))
	}
	known := s.knownDevice(c, email)
	if !known && !s.logins.ready(emailKey(email)) {
		v.Errors = views.FormErrors{"": "Too many failed sign-ins for this email. Wait a minute and try again, or sign in from a browser you signed in with before."}
		return s.render(c, http.StatusTooManyRequests, views.Login(v))
	}
	u, err := s.db.Authenticate(c.Request().Context(), email, c.FormValue("password"))
	if errors.Is(err, store.ErrWrongPassword) {
		// Charged after the check, so that nothing else creates an email's
		// bucket. Attempts running at once may each have passed ready
		// before any was charged; the address's own limit bounds them.
		s.logins.take(emailKey(email))
	}
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		v.Errors = views.FormErrors{"password": store.ErrorMessage(err)}
		return s.render(c, http.StatusUnauthorized, views.Login(v))
	}
	if err != nil {
		return err
	}
	s.logins.reset(emailKey(email))
	if err := s.signIn(c, u.ID); err != nil {
		return err
	}
	s.rememberDevice(c, u)
	s.log.Info("signed in", "email", u.Email, "remote", ip, "known_device", known)
	return c.Redirect(http.StatusSeeOther, v.Next)
}

// deviceCookie marks a browser where a user signed in: an expiry and an HMAC
// binding it to the user's id and email. It only exempts that browser from
// the email's sign-in limit; the password is still checked.
const (
	deviceCookie = "s3relay_device"
	deviceMaxAge = 180 * 24 * time.Hour
)

func (s *Server) deviceMAC(userID, email string, expires int64) string {
	m := hmac.New(sha256.New, s.keys.Device)
	fmt.Fprintf(m, "known-device\x00%s\x00%s\x00%d", userID, strings.ToLower(email), expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// rememberDevice gives the browser a known-device cookie for u, replacing
// any other user's: one browser is usually one person's.
func (s *Server) rememberDevice(c echo.Context, u *store.User) {
	expires := s.logins.clock().Add(deviceMaxAge).Unix()
	c.SetCookie(&http.Cookie{
		Name: deviceCookie, Value: u.ID + "." + strconv.FormatInt(expires, 10) + "." + s.deviceMAC(u.ID, u.Email, expires),
		Path: "/login", MaxAge: int(deviceMaxAge.Seconds()), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// knownDevice reports whether the request carries a live known-device
// cookie made for email.
func (s *Server) knownDevice(c echo.Context, email string) bool {
	ck, err := c.Cookie(deviceCookie)
	if err != nil {
		return false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return false
	}
	expires, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.logins.clock().Unix() >= expires {
		return false
	}
	return hmac.Equal([]byte(parts[2]), []byte(s.deviceMAC(parts[0], email, expires)))
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
