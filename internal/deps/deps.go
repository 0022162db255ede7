// Package deps pins the project's module dependencies while the packages that
// use them are being written. It is removed once every dependency has a user.
package deps

import (
	_ "charm.land/bubbles/v2/key"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/digitalocean/go-qemu/qmp"
	_ "github.com/hanwen/go-fuse/v2/fs"
	_ "github.com/zeebo/xxh3"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
