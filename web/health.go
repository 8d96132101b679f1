package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleHealthz answers while the process is up.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when the database accepts writes, 503 otherwise.
// A full disk makes it 503 too, until space is freed: the last commit of
// events failed for lack of space.
func (s *Server) handleReadyz(c echo.Context) error {
	if _, full := s.db.DiskFull(); full {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "disk full"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database not writable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleMetrics serves the Prometheus text format.
func (s *Server) handleMetrics(c echo.Context) error {
	promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}
