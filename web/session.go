package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// sessionCookie is the name of the dashboard's session cookie.
const sessionCookie = "s3relay_session"

// userKey is the session value holding the signed-in user's id.
const userKey = "user_id"

// sessionStore is a gorilla/sessions Store that keeps sessions server-side in
// SQLite. The cookie carries only the session's random id, signed, so logging
// out or expiring a session ends it for good, wherever the cookie went.
type sessionStore struct {
	db     *store.DB
	codec  *securecookie.SecureCookie
	policy store.SessionPolicy
	secure bool
}

var _ sessions.Store = (*sessionStore)(nil)

func newSessionStore(db *store.DB, keys *store.Keys, p store.SessionPolicy, secure bool) *sessionStore {
	codec := securecookie.New(keys.SessionHash, nil)
	codec.MaxAge(int(p.Max.Seconds()))
	return &sessionStore{db: db, codec: codec, policy: p, secure: secure}
}

func (st *sessionStore) options() *sessions.Options {
	return &sessions.Options{
		Path:     "/",
		MaxAge:   int(st.policy.Max.Seconds()),
		Secure:   st.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Get returns the request's session, cached for the request's lifetime.
func (st *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(st, name)
}

// New loads the session named by the request's cookie. A missing, forged,
// ended or expired session yields a new, empty one.
func (st *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(st, name)
	sess.Options = st.options()
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := st.codec.Decode(name, c.Value, &id); err != nil {
		return sess, nil
	}
	row, err := st.db.SessionByID(r.Context(), id, st.policy)
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	sess.ID, sess.IsNew = id, false
	sess.Values[userKey] = row.UserID
	return sess, nil
}

// Save writes the session's cookie, creating its row on first save. A
// negative MaxAge ends the session: its row is deleted and the cookie cleared.
func (st *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := st.db.DeleteSession(r.Context(), sess.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		uid, _ := sess.Values[userKey].(string)
		if uid == "" {
			return fmt.Errorf("save session: no user")
		}
		row, err := st.db.CreateSession(r.Context(), uid, st.policy, r.UserAgent(), remoteIP(r))
		if err != nil {
			return err
		}
		sess.ID = row.ID
	}
	encoded, err := st.codec.Encode(sess.Name(), sess.ID)
	if err != nil {
		return fmt.Errorf("encode session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// signIn starts a new session for the user. Any session the browser held is
// ended first, so a session id planted before sign-in is never promoted. The
// new session and a new pre-session seed change the CSRF token.
func (s *Server) signIn(c echo.Context, userID string) error {
	if _, err := s.newCSRFSeed(c); err != nil {
		return err
	}
	old, err := s.sessions.Get(c.Request(), sessionCookie)
	if err != nil {
		return err
	}
	if old.ID != "" {
		if err := s.db.DeleteSession(c.Request().Context(), old.ID); err != nil {
			return err
		}
	}
	sess := sessions.NewSession(s.sessions, sessionCookie)
	sess.Options = s.sessions.options()
	sess.Values[userKey] = userID
	return sess.Save(c.Request(), c.Response())
}

// signOut ends the request's session server-side and clears its cookie. A
// new pre-session seed changes the CSRF token.
func (s *Server) signOut(c echo.Context) error {
	if _, err := s.newCSRFSeed(c); err != nil {
		return err
	}
	sess, err := s.sessions.Get(c.Request(), sessionCookie)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	return sess.Save(c.Request(), c.Response())
}

// sessionUser returns the signed-in user, or nil.
func (s *Server) sessionUser(ctx context.Context, r *http.Request) (*store.User, error) {
	sess, err := s.sessions.Get(r, sessionCookie)
	if err != nil {
		return nil, err
	}
	uid, _ := sess.Values[userKey].(string)
	if uid == "" {
		return nil, nil
	}
	u, err := s.db.UserByID(ctx, uid)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, nil
	}
	return u, err
}

// sessionID returns the id of the request's live session, or "".
func (s *Server) sessionID(r *http.Request) (string, error) {
	sess, err := s.sessions.Get(r, sessionCookie)
	if err != nil {
		return "", err
	}
	return sess.ID, nil
}
