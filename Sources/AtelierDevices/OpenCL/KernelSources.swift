import Foundation

/// The OpenCL C sources: embedded in the binary at build time (so an
/// installed binary works from any directory), or read from the directory in
/// ATELIER_KERNEL_DIR when it is set, so a kernel developer can edit a `.cl`
/// file and rerun without rebuilding Swift. Files missing from that directory
/// come from the embedded copy.
public enum KernelSources {
    public static let overrideVariable = "ATELIER_KERNEL_DIR"

    public static var fileNames: [String] { EmbeddedKernels.sources.keys.sorted() }

    public static func source(named file: String) throws -> String {
        if let dir = ProcessInfo.processInfo.environment[overrideVariable], !dir.isEmpty {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw KernelSourceError("\(overrideVariable)=\(dir) is not a directory; point it at a copy of Kernels/ or unset it")
            }
            let path = (dir as NSString).appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: path) {
                do {
                    return try String(contentsOfFile: path, encoding: .utf8)
                } catch {
                    throw KernelSourceError("cannot read kernel \(path): \(FileErrorText.reason(error))")
                }
            }
        }
        guard let text = EmbeddedKernels.sources[file] else {
            throw KernelSourceError("no kernel file named \(file) (known: \(fileNames.joined(separator: ", ")))")
        }
        return text
    }
}

public struct KernelSourceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
