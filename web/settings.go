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
	me := currentUser(c)
	for _, u := range users {
		v.Users = append(v.Users, views.UserRow{ID: u.ID, Email: u.Email, Self: me != nil && u.ID == me.ID, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt})
	}
	if v.Replicas, err = s.replicaRows(c); err != nil {
		return v, err
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

// handlePasswordChange changes the signed-in user's password, which needs
// the current one. Every other session of the user ends; this one stays.
func (s *Server) handlePasswordChange(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentUser(c)
	err := s.db.CheckPassword(ctx, me.ID, c.FormValue("current_password"))
	if err == nil {
		var keep string
		if keep, err = s.sessionID(c.Request()); err != nil {
			return err
		}
		err = s.db.SetPassword(ctx, me.ID, c.FormValue("new_password"), keep)
	}
	if code := store.ErrorCode(err); code == store.EINTERNAL || code == store.ENOTFOUND {
		return err
	}
	if err != nil {
		v, verr := s.settingsView(c)
		if verr != nil {
			return verr
		}
		v.Errors = formErrors(err, map[string]string{"password": "new_password"})
		return s.render(c, http.StatusUnprocessableEntity, views.Settings(v))
	}
	s.log.Info("password changed", "email", me.Email, "by", me.Email)
	return s.redirectWithFlash(c, "/settings", "Password changed. Your other sessions have ended.")
}

func (s *Server) handleUserRemoveForm(c echo.Context) error {
	u, err := s.db.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.UserRemove(views.UserRemoveView{
		Page: s.page(c, "Remove user", "settings"), ID: u.ID, Email: u.Email, Self: u.ID == currentUser(c).ID,
	}))
}

// handleUserRemove removes a user, ending the user's sessions. The last
// user (every user is an administrator) is kept: the confirm page comes
// back with 422 and says why.
func (s *Server) handleUserRemove(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.db.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	me := currentUser(c)
	self := u.ID == me.ID
	if err := s.db.DeleteUser(ctx, u.ID); store.ErrorCode(err) == store.ECONFLICT {
		return s.render(c, http.StatusUnprocessableEntity, views.UserRemove(views.UserRemoveView{
			Page: s.page(c, "Remove user", "settings"), ID: u.ID, Email: u.Email, Self: self, Error: store.ErrorMessage(err),
		}))
	} else if err != nil {
		return err
	}
	s.log.Info("user removed", "email", u.Email, "by", me.Email)
	if self {
		// The session went with the user; clear the browser's cookie too.
		if err := s.signOut(c); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.redirectWithFlash(c, "/settings", "User "+u.Email+" removed. Their sessions have ended.")
}
