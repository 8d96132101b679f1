// Package views renders the dashboard's pages with templ. Handlers pass view
// models defined here, never database rows.
package views

import (
	"time"

	"github.com/s3relay/s3relay/static"
)

// Page is what every dashboard page's layout needs.
type Page struct {
	// Title is the page title, shown in the tab and as the heading.
	Title string
	// Nav is the navigation entry to mark as current ("destinations", ...).
	Nav string
	// User is the signed-in user's email; empty on the sign-in and setup pages.
	User string
	// CSRF is the anti-forgery token every state-changing request must carry.
	CSRF string
	// Flash is a one-time notice shown at the top of the page.
	Flash string
	// DiskFull is set while the server's disk is full, since DiskFullSince.
	DiskFull      bool
	DiskFullSince time.Time
}

// FormErrors maps a form field's name to the message shown next to it. The
// empty name holds an error about the whole form.
type FormErrors map[string]string

// Option is one choice of a select: its submitted value and its label.
type Option struct {
	Value string
	Label string
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key, Label, Href string
}

// Navigation lists the dashboard's sections in menu order.
var Navigation = []NavItem{
	{"home", "Overview", "/"},
	{"destinations", "Destinations", "/destinations"},
	{"sources", "Sources", "/sources"},
	{"deliveries", "Deliveries", "/deliveries"},
	{"events", "Events", "/events"},
	{"settings", "Settings", "/settings"},
}

func asset(name string) string { return static.Path(name) }
