package main

// The examples each command's --help ends with.

func (c *PipelineCmd) Help() string {
	return "Example:\n  zlayer pipeline --print                       # the bake definition it would run\n" +
		"  zlayer pipeline -f ZPipeline.yaml --set VERSION=1.2.0 --push"
}

func (c *ConvertCmd) Help() string {
	return "Example:\n  zlayer convert ZImagefile > Dockerfile"
}

func (c *SchemaCmd) Help() string {
	return "Example:\n  zlayer schema spec > deploy.schema.json       # for an editor's YAML language server"
}

func (c *ServeCmd) Help() string {
	return "Example:\n  zlayer serve                                  # a node on its own\n" +
		"  zlayer serve --cluster-init --node-name s1    # the first server of a cluster (docs/cluster.md)\n" +
		"  docker run -d --privileged zlayer-node serve"
}

func (c *StatusCmd) Help() string {
	return "Example:\n  zlayer status\n  zlayer status shop -o json"
}

func (c *PsCmd) Help() string {
	return "Example:\n  zlayer ps\n  zlayer ps -o json | jq '.[] | select(.state != \"ready\")'"
}

func (c *LogsCmd) Help() string {
	return "Example:\n  zlayer logs web --tail 100 -f\n  zlayer logs shop/web --replica 2"
}

func (c *ScaleCmd) Help() string {
	return "Example:\n  zlayer scale web 5"
}

func (c *DownCmd) Help() string {
	return "Example:\n  zlayer down shop"
}

func (c *ExecCmd) Help() string {
	return "Example:\n  zlayer exec -it web -- sh                     # a terminal; exits with the shell's code\n" +
		"  zlayer exec web --replica 2 -- cat /etc/hosts"
}

func (c *SecretLsCmd) Help() string {
	return "Example:\n  zlayer secret ls -o json"
}

func (c *VersionCmd) Help() string {
	return "Example:\n  zlayer version"
}

func (c *CompletionCmd) Help() string {
	return "Example:\n  zlayer completion bash > /etc/bash_completion.d/zlayer\n  source <(zlayer completion zsh)"
}

func (c *DevClusterUpCmd) Help() string {
	return "Example:\n  zlayer dev cluster up --nodes 3                # one server, two agents; prints the API and an env line\n" +
		"  zlayer dev cluster up --nodes 5 --servers 3 --port-base 20000 --publish 80,8081\n" +
		"  eval \"$(cat ~/.config/zlayer/dev-cluster/zlayer/env)\" && zlayer nodes"
}

func (c *DevClusterDownCmd) Help() string {
	return "Example:\n  zlayer dev cluster down                        # containers, their volumes, the network"
}
