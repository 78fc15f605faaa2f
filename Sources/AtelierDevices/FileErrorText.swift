import Foundation

/// What went wrong with a file, in the system's own words: the POSIX reason
/// where Foundation has one ("No space left on device", "Is a directory"),
/// not NSError's "Code=512" text.
public enum FileErrorText {
    /// The reason of `error`, a file operation's.
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}
