package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// statusOf maps an application error code to its HTTP status.
var statusOf = map[string]int{
	store.EINVALID:      http.StatusBadRequest,
	store.EUNAUTHORIZED: http.StatusUnauthorized,
	store.ENOTFOUND:     http.StatusNotFound,
	store.ECONFLICT:     http.StatusConflict,
	store.ELIMIT:        http.StatusUnprocessableEntity,
	store.EINTERNAL:     http.StatusInternalServerError,
	store.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// unavailableRetryAfter is the Retry-After of a 503 answered while the disk
// is full: long enough not to hammer a full disk, short enough that clients
// resume soon after space is freed.
const unavailableRetryAfter = "30"

// codeOf maps an HTTP status raised by echo itself (unknown route, wrong
// method, body too large) to an application error code.
func codeOf(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return store.EUNAUTHORIZED
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return store.ENOTFOUND
	case status == http.StatusConflict:
		return store.ECONFLICT
	case status == http.StatusRequestEntityTooLarge || status == http.StatusTooManyRequests || status == http.StatusUnprocessableEntity:
		return store.ELIMIT
	case status >= 500:
		return store.EINTERNAL
	default:
		return store.EINVALID
	}
}

// apiError is the JSON error body of the ingestion and management APIs.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// isAPI reports whether a request path belongs to an API answered in JSON.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/api" || strings.HasPrefix(path, "/v1/") || path == "/v1" ||
		strings.HasPrefix(path, "/beacon/") || path == "/beacon" || strings.HasPrefix(path, "/sourceConfig")
}

// handleError is the one place where errors become responses: JSON under
// /api and /v1, an error page for the dashboard. Only internal errors are
// logged with their detail; users see "Internal error".
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.describe(err, c)
	switch {
	case body.Code == store.EUNAVAILABLE:
		// Not logged per request: a full disk refuses every one of them;
		// /readyz, the metrics and the dashboard banner tell.
		c.Response().Header().Set("Retry-After", unavailableRetryAfter)
	case status >= 500:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		switch p := c.Request().URL.Path; {
		case strings.HasPrefix(p, "/api/"):
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="s3relay"`)
		case strings.HasPrefix(p, "/v1/"):
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="s3relay"`)
		}
	}
	var werr error
	switch {
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(status)
	case isAPI(c.Request().URL.Path):
		werr = c.JSON(status, apiError{body})
	default:
		title := http.StatusText(status)
		if status == http.StatusNotFound {
			title = "Page not found"
		}
		werr = s.render(c, status, views.Error(views.ErrorView{
			Page:    s.page(c, title, ""),
			Status:  status,
			Message: body.Message,
		}))
	}
	if werr != nil {
		s.log.Error("write error response", "err", werr)
	}
}

// describe turns any error into a status and the body users may see.
func (s *Server) describe(err error, c echo.Context) (int, apiErrorBody) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		if he.Code >= 500 {
			msg = "Internal error"
		} else if len(msg) > 0 {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		if he.Code == http.StatusNotFound && !isAPI(c.Request().URL.Path) {
			msg = "There is no page at this address."
		}
		return he.Code, apiErrorBody{Code: codeOf(he.Code), Message: msg}
	}
	code := store.ErrorCode(err)
	return statusOf[code], apiErrorBody{Code: code, Message: store.ErrorMessage(err), Field: store.ErrorField(err)}
}
