import Foundation
import PackagePlugin

/// Embeds every `Kernels/*.cl` file into the library as a Swift string, so an
/// installed binary needs no kernel files beside it.
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernels = context.package.directoryURL.appending(path: "Kernels")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernels.swift")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: kernels.path)) ?? []
        // The folder itself is an input so that adding a file re-runs the tool;
        // each file is an input so that editing one does.
        let inputs = [kernels] + files.filter { $0.hasSuffix(".cl") }.sorted().map { kernels.appending(path: $0) }
        return [
            .buildCommand(
                displayName: "Embedding OpenCL kernels",
                executable: try context.tool(named: "KernelEmbedder").url,
                arguments: [kernels.path, output.path],
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
