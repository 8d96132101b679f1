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
	ID       string `json:"id"`
	Name     string `json:"name"`
	WriteKey string `json:"write_key"`
	// AllowedOrigins are the web origins whose pages may send events with
	// the write key; empty: any origin.
	AllowedOrigins []string  `json:"allowed_origins"`
	CreatedAt      time.Time `json:"created_at"`
}

func toAPISource(s *store.Source) apiSource {
	// Times are stored to the millisecond: a source just created must read
	// the same as when it is fetched again.
	origins := s.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return apiSource{ID: s.ID, Name: s.Name, WriteKey: s.WriteKey, AllowedOrigins: origins, CreatedAt: s.CreatedAt.Truncate(time.Millisecond)}
}

// sourceInput is the body of POST and PATCH /api/v1/sources. Fields are
// pointers so that PATCH can tell a missing field from an empty one.
type sourceInput struct {
	Name           *string   `json:"name"`
	AllowedOrigins *[]string `json:"allowed_origins"`
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

func (s *Server) handleAPISourceCreate(c echo.Context) error {
	var in sourceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	src := &store.Source{}
	if in.Name != nil {
		src.Name = *in.Name
	}
	ctx := c.Request().Context()
	if in.AllowedOrigins != nil {
		// Checked before the source exists, so a bad list creates nothing.
		if _, err := store.NormalizeOrigins(*in.AllowedOrigins); err != nil {
			return err
		}
	}
	if err := s.db.CreateSource(ctx, src); err != nil {
		return err
	}
	if in.AllowedOrigins != nil && len(*in.AllowedOrigins) > 0 {
		var err error
		if src, err = s.db.SetAllowedOrigins(ctx, src.ID, *in.AllowedOrigins); err != nil {
			return err
		}
	}
	s.log.Info("source created", "source", src.ID, "name", src.Name, "by", actor(c))
	return c.JSON(http.StatusCreated, toAPISource(src))
}

func (s *Server) handleAPISourceGet(c echo.Context) error {
	src, err := s.db.SourceByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPISource(src))
}

func (s *Server) handleAPISourceUpdate(c echo.Context) error {
	var in sourceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if in.AllowedOrigins != nil {
		if _, err := store.NormalizeOrigins(*in.AllowedOrigins); err != nil {
			return err
		}
	}
	// Nothing to change: answer with the source as it is, as PATCH does.
	src, err := s.db.SourceByID(ctx, c.Param("id"))
	if err == nil && in.Name != nil {
		src, err = s.db.RenameSource(ctx, c.Param("id"), *in.Name)
	}
	if err == nil && in.AllowedOrigins != nil {
		src, err = s.db.SetAllowedOrigins(ctx, c.Param("id"), *in.AllowedOrigins)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPISource(src))
}

func (s *Server) handleAPISourceDelete(c echo.Context) error {
	if err := s.db.DeleteSource(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	s.log.Info("source deleted", "source", c.Param("id"), "by", actor(c))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) handleAPISourceRotateKey(c echo.Context) error {
	src, err := s.db.RotateWriteKey(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	s.log.Info("source write key rotated", "source", src.ID, "by", actor(c))
	return c.JSON(http.StatusOK, toAPISource(src))
}
