import AtelierDevices
import AtelierGraph
import Foundation

/// Reading any picture a user may have (PNG or JPEG, told apart by their
/// first bytes, not by the file name) as 8-bit gray or RGB.
public enum ImageFile {
    public enum Format: String, Sendable { case png, jpeg }

    /// The names image folders list (other files are not pictures).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg", "jpe"]

    /// The format of `data` from its signature, or nil.
    public static func format(of data: Data) -> Format? {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    /// Reads a PNG or JPEG as gray or RGB; transparency is laid over white.
    public static func read(_ path: String) throws -> PixelImage {
        let data = try contents(of: path)
        switch format(of: data) {
        case .png: return try PNG.decode(data, name: path)
        case .jpeg: return try JPEG.decode(data, name: path)
        case nil:
            throw ImageFileError(data.isEmpty ? "\(path) is empty" : "\(path) is neither a PNG nor a JPEG (its first bytes say otherwise)")
        }
    }

    /// A file's bytes, or an error naming it.
    static func contents(of path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImageFileError("cannot read \(path): \(FileErrorText.reason(error))")
        }
    }

    /// Writes `data` to a temporary file beside `path`, then renames it, so
    /// a crash or a full disk never leaves a half-written file at `path`.
    static func writeAtomically(_ data: Data, to path: String) throws {
        do {
            try TemporaryFile.write(data, to: URL(fileURLWithPath: path))
        } catch {
            throw ImageFileError("cannot write \(path): \(error)")
        }
    }
}
