package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	secondEmail    = "second@example.com"
	secondPassword = "second password"
)

// signedOut reports whether the client's session has ended.
func signedOut(c *client) bool {
	c.tb.Helper()
	resp, _ := c.get("/settings")
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
}

func TestRemoveUserEndsSessionsAndKeepsLastAdmin(t *testing.T) {
	e := MustEnv(t)
	second, err := e.DB.CreateUser(t.Context(), secondEmail, secondPassword)
	if err != nil {
		t.Fatal(err)
	}
	admin := e.client(t)
	admin.login(adminEmail, adminPassword)
	other := e.client(t)
	other.login(secondEmail, secondPassword)

	// The confirm page works without JavaScript: a link, then a form.
	_, body := admin.get("/settings")
	doc := mustDoc(t, body)
	if n := doc.Find(`[data-testid="remove-user"]`).Length(); n != 2 {
		t.Errorf("remove links = %d, want one per user", n)
	}
	href := "/settings/users/" + second.ID + "/remove"
	resp, body := admin.get(href)
	if resp.StatusCode != http.StatusOK || !strings.Contains(mustDoc(t, body).Find(`[data-testid="remove-confirm"]`).Text(), secondEmail) {
		t.Fatalf("confirm page: status %d", resp.StatusCode)
	}
	if resp, _ := admin.post(href, url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("removal without a CSRF token: status %d, want 403", resp.StatusCode)
	}
	resp, _ = admin.post(href, url.Values{"_csrf": {admin.csrf(href)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings" {
		t.Fatalf("remove: status %d %s, want 303 to /settings", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !signedOut(other) {
		t.Error("the removed user's session still works")
	}
	if resp, _ := e.client(t).post("/login", url.Values{"_csrf": {e.client(t).csrf("/login")}, "email": {secondEmail}, "password": {secondPassword}}); resp.StatusCode == http.StatusSeeOther {
		t.Error("the removed user can still sign in")
	}
	if signedOut(admin) {
		t.Error("removing another user ended the admin's session")
	}

	// The last administrator stays, and the page says why.
	me, err := e.DB.UserByEmail(t.Context(), adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	href = "/settings/users/" + me.ID + "/remove"
	resp, body = admin.post(href, url.Values{"_csrf": {admin.csrf(href)}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("removing the last user: status %d, want 422", resp.StatusCode)
	}
	if got := mustDoc(t, body).Find(`[data-testid="form-error"]`).Text(); !strings.Contains(got, "last administrator") {
		t.Errorf("message = %q, want it to say this is the last administrator", got)
	}
	if n, _ := e.DB.CountUsers(t.Context()); n != 1 || signedOut(admin) {
		t.Errorf("users = %d after refusing to remove the last one; admin signed out: %v", n, signedOut(admin))
	}
	_, body = admin.get("/settings")
	if n := mustDoc(t, body).Find(`[data-testid="remove-user"]`).Length(); n != 0 {
		t.Errorf("remove links with one user = %d, want none", n)
	}

	// With another user, removing yourself signs you out.
	if _, err := e.DB.CreateUser(t.Context(), secondEmail, secondPassword); err != nil {
		t.Fatal(err)
	}
	resp, _ = admin.post(href, url.Values{"_csrf": {admin.csrf(href)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("removing yourself: status %d %s, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !signedOut(admin) {
		t.Error("removing yourself left your session open")
	}
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	e := MustEnv(t)
	here := e.client(t)
	here.login(adminEmail, adminPassword)
	elsewhere := e.client(t)
	elsewhere.login(adminEmail, adminPassword)
	const newPassword = "a brand new password"

	tests := []struct {
		name, current, next, field string
	}{
		{"wrong current", "not it at all", newPassword, "current_password"},
		{"too short", adminPassword, "short", "new_password"},
		{"too long", adminPassword, strings.Repeat("x", 73), "new_password"},
	}
	for _, tt := range tests {
		resp, body := here.post("/settings/password", url.Values{"_csrf": {here.csrf("/settings")}, "current_password": {tt.current}, "new_password": {tt.next}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tt.name, resp.StatusCode)
		}
		if got := mustDoc(t, body).Find(`[data-testid="` + tt.field + `-error"]`).Text(); got == "" {
			t.Errorf("%s: no message next to %s", tt.name, tt.field)
		}
	}
	if signedOut(elsewhere) {
		t.Fatal("a refused change ended the other session")
	}

	resp, _ := here.post("/settings/password", url.Values{"_csrf": {here.csrf("/settings")}, "current_password": {adminPassword}, "new_password": {newPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: status %d, want 303", resp.StatusCode)
	}
	if signedOut(here) {
		t.Error("changing your password ended your own session")
	}
	if !signedOut(elsewhere) {
		t.Error("the other session still works after the password changed")
	}
	anon := e.client(t)
	if resp, _ := anon.post("/login", url.Values{"_csrf": {anon.csrf("/login")}, "email": {adminEmail}, "password": {adminPassword}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password: status %d, want 401", resp.StatusCode)
	}
	anon.login(adminEmail, newPassword)
}
