package bridge

import (
	"context"
	"time"
)

// This file is what the bridge does when a server needs a login.

// upstreamNeedsLogin puts the server's login tool in place of its tools.
// The login its private lists came with is gone: they go too. A server
// whose login needs no person is logged in to at once instead, and
// reports true when that worked: it can connect again.
func (b *Bridge) upstreamNeedsLogin(u *Upstream) bool {
	u.cached.Store(false)
	b.loginChanged(u)
	if b.opts.Login == nil {
		return false
	}
	if b.opts.Unattended != nil && b.opts.Unattended(u.ID()) && u.unattended.Add(1) <= maxUnattendedLogins {
		if b.loginUnattended(u) {
			return true
		}
	}
	b.fromUpstream(u, func() []string { return b.Registry.SetLogin(u.ID(), u.server.Title) })
	return false
}

// maxUnattendedLogins bounds the logins the bridge runs itself for a
// server between two connections: one that takes each new token and
// still asks for a login gets its login tool.
const maxUnattendedLogins = 2

// loginUnattended runs the login of a server that needs no person; when
// it fails, the log says why.
func (b *Bridge) loginUnattended(u *Upstream) bool {
	ctx, cancel := context.WithTimeout(u.lifetime, time.Minute)
	defer cancel()
	err := b.opts.Login(ctx, u.server, func(string) bool { return false })
	if err != nil {
		if u.lifetime.Err() == nil {
			u.log.Warn("the login without a person failed; its login tool is offered", "err", err)
		}
		return false
	}
	u.log.Info("logged in without a person (client credentials)")
	b.loginChanged(u)
	return true
}

// loginChanged drops the kept lists private to a server's login.
func (b *Bridge) loginChanged(u *Upstream) {
	loginOf, _ := listLogin(u.server)
	b.opts.Lists.ForgetLogin(loginOf)
}
