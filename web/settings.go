package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

func (s *Server) settingsView(c echo.Context) (views.SettingsView, error) {
	ctx := c.Request().Context()
	v := views.SettingsView{Page: s.page(c, "Settings", "settings")}
	toks, err := s.db.ListTokens(ctx)
	if err != nil {
		return v, err
	}
	for _, t := range toks {
		v.Tokens = append(v.Tokens, views.TokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, Revoked: t.Revoked()})
	}
	users, err := s.db.ListUsers(ctx)
	if err != nil {
		return v, err
	}
	for _, u := range users {
		v.Users = append(v.Users, views.UserRow{Email: u.Email, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt})
	}
	return v, nil
}

func (s *Server) handleSettings(c echo.Context) error {
	v, err := s.settingsView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Settings(v))
}

// handleTokenCreate renders the settings page itself instead of redirecting:
// the new token is shown this once and is stored nowhere it could be read back.
func (s *Server) handleTokenCreate(c echo.Context) error {
	name := c.FormValue("token_name")
	t, secret, err := s.db.CreateToken(c.Request().Context(), name)
	if err != nil && store.ErrorCode(err) != store.EINVALID {
		return err
	}
	v, verr := s.settingsView(c)
	if verr != nil {
		return verr
	}
	if err != nil {
		v.TokenName, v.Errors = name, formErrors(err, map[string]string{"name": "token_name"})
		return s.render(c, http.StatusUnprocessableEntity, views.Settings(v))
	}
	s.log.Info("api token created", "token", t.ID, "name", t.Name, "by", currentUser(c).Email)
	v.NewToken, v.NewTokenName = secret, t.Name
	return s.render(c, http.StatusOK, views.Settings(v))
}

func (s *Server) handleTokenRevoke(c echo.Context) error {
	if err := s.db.RevokeToken(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	s.log.Info("api token revoked", "token", c.Param("id"), "by", currentUser(c).Email)
	return s.redirectWithFlash(c, "/settings", "Token revoked. Requests using it now get 401.")
}

func (s *Server) handleUserCreate(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	u, err := s.db.CreateUser(c.Request().Context(), email, c.FormValue("password"))
	if err != nil && store.ErrorCode(err) == store.EINTERNAL {
		return err
	}
	if err != nil {
		v, verr := s.settingsView(c)
		if verr != nil {
			return verr
		}
		v.UserEmail, v.Errors = email, formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Settings(v))
	}
	s.log.Info("user created", "email", u.Email, "by", currentUser(c).Email)
	return s.redirectWithFlash(c, "/settings", "User "+u.Email+" added. They can sign in now.")
}
