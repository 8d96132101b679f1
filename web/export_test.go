package web

import "time"

// SetLoginClock makes the sign-in limiter (and the known-device cookie's
// expiry) read time from now. Call it before the server serves requests.
func (s *Server) SetLoginClock(now func() time.Time) {
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	s.logins.now = now
}

// SetLoginLimiterMax sets the number of keys the sign-in limiter holds.
func (s *Server) SetLoginLimiterMax(n int) {
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	s.logins.max = n
}

// LoginLimiterSize returns the number of keys the sign-in limiter holds.
func (s *Server) LoginLimiterSize() int { return s.logins.size() }
