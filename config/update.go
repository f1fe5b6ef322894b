package config

// The config file's edits by the verbs: each under the file's lock, on top
// of what the file holds when it is written, changing only its lines.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// UpdateEnabled adds servers to the enabled list and removes others, on
// top of what the config file holds when it is written: under the file's
// lock, so that two commands changing the list at once both keep their
// change. Only the lines that change are rewritten; comments, blank lines
// and other documents stay as they were, and a symlinked file stays a
// symlink.
func (c *Config) UpdateEnabled(add, remove []string) error {
	var enabled []string
	if err := c.edit(enabledChange(add, remove, &enabled)); err != nil {
		return err
	}
	c.Enabled = enabled
	return nil
}

// enabledChange plans the change of the enabled list, setting *enabled
// to the list as it will be.
func enabledChange(add, remove []string, enabled *[]string) func(doc *yaml.Node) (change, error) {
	return func(doc *yaml.Node) (change, error) {
		var list []string
		if v := Field(doc, "enabled"); v != nil {
			if err := v.Decode(&list); err != nil {
				return change{}, fmt.Errorf("enabled: %w", err)
			}
		}
		list = slices.DeleteFunc(list, func(id string) bool { return slices.Contains(remove, id) })
		for _, id := range add {
			if !slices.Contains(list, id) {
				list = append(list, id)
			}
		}
		*enabled = list
		return change{
			tree: func(doc *yaml.Node) {
				seq := &yaml.Node{Kind: yaml.SequenceNode}
				for _, id := range list {
					seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: id})
				}
				setKey(doc, "enabled", seq)
			},
			text: func(t *yamlText) bool { return t.setList("enabled", list) },
		}, nil
	}
}

// SetTokenStore sets token_store (TokenStoreKeychain or TokenStoreFile)
// and writes the config file as UpdateEnabled does: every line but its own
// is kept as it was.
func (c *Config) SetTokenStore(store string) error {
	err := c.edit(func(*yaml.Node) (change, error) {
		return change{
			tree: func(doc *yaml.Node) {
				setKey(doc, "token_store", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: store})
			},
			text: func(t *yamlText) bool { return t.setScalar([]string{"token_store"}, store) },
		}, nil
	})
	if err != nil {
		return err
	}
	c.TokenStore = store
	return nil
}

// SetServerReadOnly sets servers.<id>.read_only and writes the config file
// as UpdateEnabled does.
func (c *Config) SetServerReadOnly(id string, readOnly bool) error {
	err := c.edit(func(*yaml.Node) (change, error) {
		return change{
			tree: func(doc *yaml.Node) {
				servers := Field(doc, "servers")
				if servers == nil || servers.Kind != yaml.MappingNode {
					servers = &yaml.Node{Kind: yaml.MappingNode}
					setKey(doc, "servers", servers)
				}
				srv := Field(servers, id)
				if srv == nil || srv.Kind != yaml.MappingNode {
					srv = &yaml.Node{Kind: yaml.MappingNode}
					setKey(servers, id, srv)
				}
				setKey(srv, "read_only", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(readOnly)})
			},
			text: func(t *yamlText) bool { return t.setScalar([]string{"servers", id, "read_only"}, fmt.Sprint(readOnly)) },
		}, nil
	})
	if err != nil {
		return err
	}
	if c.Servers == nil {
		c.Servers = map[string]ServerConfig{}
	}
	sc := c.Servers[id]
	sc.ReadOnly = readOnly
	c.Servers[id] = sc
	return nil
}

// edit changes the config file under its lock: plan says what to change
// from what the file holds then.
func (c *Config) edit(plan func(doc *yaml.Node) (change, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := c.Locks.Update(ctx, c.path, 0o644, func(old []byte) ([]byte, error) {
		out, err := applyChange(old, plan)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrConfig, c.path, err)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	c.exists = true
	return nil
}

// setKey sets key in a mapping node to value, keeping the comments of a
// value it replaces.
func setKey(m *yaml.Node, key string, value *yaml.Node) {
	if v := Field(m, key); v != nil {
		value.HeadComment, value.LineComment = v.HeadComment, v.LineComment
		*v = *value
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, value)
}
