package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

func (s *Server) sourcesView(c echo.Context) (views.SourcesView, error) {
	v := views.SourcesView{Page: s.page(c, "Sources", "sources")}
	srcs, _, err := s.db.ListSources(c.Request().Context(), store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return v, err
	}
	for _, src := range srcs {
		v.Sources = append(v.Sources, views.SourceRow{ID: src.ID, Name: src.Name, WriteKey: src.WriteKey, CreatedAt: src.CreatedAt})
	}
	return v, nil
}

func (s *Server) handleSourceList(c echo.Context) error {
	v, err := s.sourcesView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Sources(v))
}

func (s *Server) handleSourceCreate(c echo.Context) error {
	src := &store.Source{Name: c.FormValue("name")}
	err := s.db.CreateSource(c.Request().Context(), src)
	if store.ErrorCode(err) == store.EINVALID {
		v, lerr := s.sourcesView(c)
		if lerr != nil {
			return lerr
		}
		v.Name, v.Errors = c.FormValue("name"), formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Sources(v))
	}
	if err != nil {
		return err
	}
	return s.redirectWithFlash(c, "/sources", "Source “"+src.Name+"” created. Its write key is ready to use.")
}
