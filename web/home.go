package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/views"
)

func (s *Server) handleHome(c echo.Context) error {
	n, err := s.db.CountSources(c.Request().Context())
	if err != nil {
		return err
	}
	v := views.HomeView{Page: s.page(c, "Overview", "home"), Sources: n}
	return s.render(c, http.StatusOK, views.Home(v))
}

func (s *Server) handleDestinationList(c echo.Context) error {
	return s.render(c, http.StatusOK, views.Destinations(views.DestinationsView{Page: s.page(c, "Destinations", "destinations")}))
}

func (s *Server) handleDeliveryList(c echo.Context) error {
	return s.render(c, http.StatusOK, views.Deliveries(views.DeliveriesView{Page: s.page(c, "Deliveries", "deliveries")}))
}

func (s *Server) handleEventList(c echo.Context) error {
	n, err := s.db.CountSources(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Events(views.EventsView{Page: s.page(c, "Events", "events"), HasSources: n > 0}))
}
