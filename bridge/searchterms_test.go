package bridge

import (
	"slices"
	"testing"
)

// TestTerms checks how texts become the words the tool index counts.
func TestTerms(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"list_pull_requests", []string{"list", "pul", "request"}},
		{"getPullRequest", []string{"get", "pul", "request"}},
		{"Creating the issues", []string{"creat", "issu"}},
		{"created, creates", []string{"creat", "creat"}},
		{"labelled labels", []string{"label", "label"}},
		{"stopped stopping stop", []string{"stop", "stop", "stop"}},
		{"add a watcher", []string{"add", "watch"}},
		{"on-call rota", []string{"cal", "oncal", "rota"}},
		{"post in #launch", []string{"post", "channel"}},
		{"move PROJ-12 to done", []string{"mov", "issu", "don"}},
		{"mail bob@example.com", []string{"send", "mail", "email"}},
		{"commits to acme/payments-api", []string{"commit", "repo"}},
		{"who changed src/payments/retry.go", []string{"who", "chang", "fil", "path"}},
		{"the key under prod/payments/stripe", []string{"key", "under", "path"}},
		{"and/or 24/7 ci/cd", []string{"24", "7", "ci", "cd"}},
		{"open https://acme.io/pay", []string{"open", "url", "link"}},
		{"calls to legacyAuth.verify()", []string{"cal", "code"}},
		{"cut v2.4.0, not v42 or 2.5", []string{"cut", "vers", "v42", "2", "5"}},
		{"roll out to 25%", []string{"rol", "out", "percentag"}},
		{"at 9am, 3:30pm or 14:30, not 9 or 1:2", []string{"time", "time", "time", "9", "1", "2"}},
		{"log 3h, 30-min, 1.5hrs, not 3 or 3x", []string{"log", "time", "durat", "time", "durat", "time", "durat", "3", "3x"}},
		{"set :no_entry: not a:b or ::", []string{"set", "emoji", "b"}},
		{"refund $40 of $1,200.50, not $x", []string{"refund", "amount", "amount", "x"}},
		{"mute env:prod and service:checkout-api, not Env:x", []string{"mut", "tag", "tag", "env", "x"}},
		{"calls to /api/checkout, not / or /1", []string{"cal", "path", "endpoint", "1"}},
		{"instances in us-east-1 and europe-west1, not us-led", []string{"instanc", "region", "region", "led", "usl"}},
		{"users who cannot log in", []string{"user", "who", "login"}},
		{"what's in Maria's inbox", []string{"maria", "inbox"}},
		{"it didn't pass, we'll rerun", []string{"pass", "rerun"}},
		{"weekly reports", []string{"week", "report"}},
		{"email the report to finance", []string{"send", "email", "report", "financ"}},
		{"reply to the email", []string{"reply", "email"}},
		{"alert me when disk is full", []string{"creat", "alert", "when", "disk", "ful"}},
		{"tell me if it fails", []string{"creat", "tel", "if", "fail"}},
		{"signed in", []string{"login"}},
		{"read the log of the job", []string{"read", "log", "job"}},
		{"issue #412", []string{"issu", "412"}},
	} {
		if got := terms(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("terms(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestIsQuestion checks which requests are asked as questions.
func TestIsQuestion(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"which pods are crashing", true},
		{"What's on my calendar", true},
		{"is the build green?", true},
		{"the build is green?", true},
		{"restart the worker pods", false},
		{"show the logs", false},
		{"", false},
	} {
		if got := isQuestion(tc.query); got != tc.want {
			t.Errorf("isQuestion(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}

// TestQueryTerms checks how a request's everyday words and phrases become
// the words tools say, and that a tool's own text keeps them.
func TestQueryTerms(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"get rid of the page", []string{"delet", "remov", "pag"}},
		{"we shipped 2.0", []string{"releas", "deploy", "rollout", "2", "0"}},
		{"turn the disk alert back on", []string{"on", "enabl", "unmut", "toggl", "disk", "metric", "alert"}},
		{"set it up", []string{"creat", "add"}},
		{"change the name of the doc", []string{"renam", "fil", "document"}},
		{"get the list. rid of it", []string{"get", "list", "rid"}},
		{"log two hours on PROJ-5", []string{"log", "two", "hour", "issu"}},
		{"turn the alert on", []string{"on", "enabl", "unmut", "toggl", "alert"}},
		{`put "dentist next Tuesday at 10" on my calendar`, []string{"put", "text", "calendar"}},
		{`send “pls pay” to finance`, []string{"send", "text", "financ"}},
		{`the "weekly report`, []string{"week", "report"}},
		{"file a bug in the PAY project", []string{"creat", "issu", "project"}},
		{"pay it, PAY", []string{"payment", "paid", "payment", "paid"}},
	} {
		if got := queryTerms(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("queryTerms(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if got := terms("get rid of"); !slices.Equal(got, []string{"get", "rid"}) {
		t.Errorf("terms(%q) = %q: a tool's text is read as it is", "get rid of", got)
	}
}
