package cli

import (
	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

func newSchemaCommand(streams Streams, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the experiment file format",
		Long: `Print the JSON Schema of the experiment file format.

Editors that use yaml-language-server complete and check experiment files
with it. Save it next to your experiments and start each file with:

  # yaml-language-server: $schema=./experiment.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			schema, err := experiment.JSONSchema(g.faults.Formats())
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(schema)
			return err
		},
	}
}
