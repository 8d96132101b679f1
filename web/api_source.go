package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// apiSource is a source in the management API.
type apiSource struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	WriteKey  string    `json:"write_key"`
	CreatedAt time.Time `json:"created_at"`
}

func toAPISource(s *store.Source) apiSource {
	return apiSource{ID: s.ID, Name: s.Name, WriteKey: s.WriteKey, CreatedAt: s.CreatedAt}
}

// listResponse is the shape of every list route.
type listResponse[T any] struct {
	Data []T    `json:"data"`
	Next string `json:"next"`
}

// pageParams reads limit and before from the query.
func pageParams(c echo.Context) (store.Page, error) {
	p := store.Page{Before: c.QueryParam("before")}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return p, store.FieldErrorf("limit", "limit must be a whole number.")
		}
		p.Limit = n
	}
	return p, p.Validate()
}

func (s *Server) handleAPISourceList(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	srcs, next, err := s.db.ListSources(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := listResponse[apiSource]{Data: []apiSource{}, Next: next}
	for _, src := range srcs {
		out.Data = append(out.Data, toAPISource(src))
	}
	return c.JSON(http.StatusOK, out)
}
