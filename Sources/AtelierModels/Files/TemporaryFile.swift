import Foundation
import AtelierDevices

/// Files are written under a temporary name beside their own and then
/// renamed, so a crash or a full disk never leaves a half-written file
/// under the real name. The name is made here and recognised here, so the
/// writers and the clean-up of what a killed run left cannot drift apart.
public enum TemporaryFile {
    /// `.NAME.PID.tmp` beside `url`: hidden, and this process's own.
    public static func beside(_ url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
    }

    /// Writes `data` to `beside(url)` and renames it to `url`; on failure
    /// removes it and throws the reason (POSIX's words).
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = beside(url)
        do {
            try data.write(to: temporary)
        } catch {
            unlink(temporary.path)
            throw TemporaryFileError(reason: FileErrorText.reason(error))
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw TemporaryFileError(reason: reason)
        }
    }

    /// Whether `name` is a temporary file a stopped writer left: one of
    /// `beside`'s, one Foundation's atomic writes leave (`.dat.nosync...`),
    /// or the `NAME.tmp-PID` pictures of earlier releases.
    public static func isLeftover(_ name: String) -> Bool {
        let digits = { (s: Substring) in !s.isEmpty && s.allSatisfy(\.isNumber) }
        if name.hasPrefix(".dat.nosync") { return true }
        if name.hasPrefix("."), name.hasSuffix(".tmp") {
            let stem = name.dropLast(".tmp".count)
            guard let dot = stem.lastIndex(of: "."), dot > stem.startIndex else { return false }
            return digits(stem[stem.index(after: dot)...])
        }
        if let range = name.range(of: ".tmp-") { return digits(name[range.upperBound...]) }
        return false
    }
}

/// Why a write through a temporary file failed.
public struct TemporaryFileError: Error, CustomStringConvertible, Sendable {
    /// The system's reason.
    public let reason: String
    public var description: String { reason }
}
