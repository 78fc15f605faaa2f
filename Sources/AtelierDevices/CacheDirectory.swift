import Foundation

/// Where Atelier caches what it can make again (kernel binaries, tunings,
/// the evaluation's feature network): $ATELIER_CACHE_DIR, else
/// $XDG_CACHE_HOME/atelier, else ~/.cache/atelier.
public enum CacheDirectory {
    /// The folder `name` under the first of those roots where it can be
    /// created and written; nil when none can.
    public static func folder(_ name: String) -> URL? {
        let env = ProcessInfo.processInfo.environment
        var roots: [String] = []
        if let own = env["ATELIER_CACHE_DIR"], !own.isEmpty { roots.append(own) }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { roots.append(xdg + "/atelier") }
        if let home = env["HOME"], !home.isEmpty { roots.append(home + "/.cache/atelier") }
        for root in roots {
            let dir = URL(fileURLWithPath: root).appendingPathComponent(name)
            if (try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)) != nil,
               FileManager.default.isWritableFile(atPath: dir.path) {
                return dir
            }
        }
        return nil
    }
}
