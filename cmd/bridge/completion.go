package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	agentconf "github.com/mcp-bridge/bridge/config/agent"
)

func completionVerb() *verb {
	return &verb{
		name:    "completion",
		args:    "bash|zsh|fish",
		summary: "print a shell completion script (bash: source <(bridge completion bash))",
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name a shell: bash, zsh or fish")
			}
			switch cmd.args[0] {
			case "bash":
				writeBash(cmd.stdout)
			case "zsh":
				fmt.Fprintln(cmd.stdout, "#compdef bridge\nautoload -U +X bashcompinit && bashcompinit")
				writeBash(cmd.stdout)
			case "fish":
				writeFish(cmd.stdout)
			case "servers":
				// Used by the scripts: the servers' IDs, one a line.
				_, cat, err := cmd.loadCatalog(ctx)
				if err != nil {
					return nil // completion stays quiet
				}
				for _, s := range cat.Servers {
					if s.DuplicateOf == "" {
						fmt.Fprintln(cmd.stdout, s.ID)
					}
				}
			default:
				return usagef("no completion for %q: use bash, zsh or fish", cmd.args[0])
			}
			return nil
		},
	}
}

// verbsTakingServers complete their arguments with the catalog's servers.
var verbsTakingServers = []string{"enable", "disable", "login", "logout", "tools", "trust"}

// verbFlags lists each verb's flags, as its --help does.
func verbFlags() map[string][]*pflag.Flag {
	out := map[string][]*pflag.Flag{}
	for _, v := range verbs() {
		fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
		fs.String("config", "", "config file")
		fs.StringArray("catalog", nil, "catalog file")
		fs.Bool("insecure-storage", false, "keep tokens in a file")
		fs.BoolP("help", "h", false, "show help")
		if v.flags != nil {
			v.flags(fs)
		}
		fs.VisitAll(func(f *pflag.Flag) { out[v.name] = append(out[v.name], f) })
		sort.Slice(out[v.name], func(i, j int) bool { return out[v.name][i].Name < out[v.name][j].Name })
	}
	return out
}

func verbNames() []string {
	var names []string
	for _, v := range verbs() {
		names = append(names, v.name)
	}
	return names
}

func agentNames() string {
	var names []string
	for _, a := range agentconf.Agents {
		names = append(names, a.Name)
	}
	return strings.Join(names, " ")
}

func writeBash(w io.Writer) {
	fmt.Fprintf(w, `_bridge() {
  local cur="${COMP_WORDS[COMP_CWORD]}" verb="${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur"))
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$verb" in
`, strings.Join(verbNames(), " "))
	flags := verbFlags()
	for _, name := range verbNames() {
		var fl []string
		for _, f := range flags[name] {
			fl = append(fl, "--"+f.Name)
		}
		fmt.Fprintf(w, "      %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")) ;;\n", name, strings.Join(fl, " "))
	}
	fmt.Fprintf(w, `    esac
    return
  fi
  case "$verb" in
    %s) COMPREPLY=($(compgen -W "$(bridge completion servers 2>/dev/null)" -- "$cur")) ;;
    setup) COMPREPLY=($(compgen -W "%s" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
  esac
}
complete -F _bridge bridge
`, strings.Join(verbsTakingServers, "|"), agentNames())
}

func writeFish(w io.Writer) {
	fmt.Fprintln(w, "complete -c bridge -f")
	flags := verbFlags()
	for _, v := range verbs() {
		fmt.Fprintf(w, "complete -c bridge -n __fish_use_subcommand -a %s -d %s\n", v.name, fishQuote(v.summary))
		for _, f := range flags[v.name] {
			fmt.Fprintf(w, "complete -c bridge -n '__fish_seen_subcommand_from %s' -l %s -d %s\n", v.name, f.Name, fishQuote(f.Usage))
		}
	}
	fmt.Fprintf(w, "complete -c bridge -n '__fish_seen_subcommand_from %s' -a '(bridge completion servers 2>/dev/null)'\n", strings.Join(verbsTakingServers, " "))
	fmt.Fprintf(w, "complete -c bridge -n '__fish_seen_subcommand_from setup' -a '%s'\n", agentNames())
	fmt.Fprintln(w, "complete -c bridge -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'")
}

func fishQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
