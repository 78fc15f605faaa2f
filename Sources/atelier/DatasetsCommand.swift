import ArgumentParser
import Atelier
import Foundation

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "Make training sets from data Debian ships.",
        subcommands: [Edges2FashionCommand.self, FabricsCommand.self]
    )
}

struct Edges2FashionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edges2fashion",
        abstract: "A paired sketch -> garment set for pix2pix, made from Fashion-MNIST.",
        discussion: """
        Writes junyanz's aligned layout: train/ (60,000 pairs) and test/ (10,000), each picture the garment's \
        outline drawing (A: black lines on white, by Canny's edge detector with hysteresis) left of the garment \
        (B: Fashion-MNIST's image, bilinearly enlarged to --size). File names carry the class \
        (train/01234_7_sneaker.png); recipe.json records the detector's parameters. Train on it with \
        `atelier train --model pix2pix --dataroot DIR`.
        """
    )

    @Option(help: "Folder to write (created if missing).")
    var out: String

    @Option(parsing: .unconditional, help: "Side of each half in pixels: 32, 64, 128 or 256.")
    var size = 64

    @Option(parsing: .unconditional, help: "Only the first N images of each split (quick trials).")
    var limit: Int?

    @Option(name: .customLong("fashion-mnist"), help: "Folder of the Fashion-MNIST IDX files.")
    var fashionMNIST = FashionMNIST.defaultDirectory

    func validate() throws {
        guard Edges2Fashion.sizes.contains(size) else {
            throw ValidationError("--size \(size): choose one of \(Edges2Fashion.sizes.map(String.init).joined(separator: ", "))")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard !out.isEmpty else { throw ValidationError("--out needs a folder name") }
    }

    func run() throws {
        let maker = try Edges2Fashion(size: size)
        let start = Date()
        try maker.write(to: out, fashionMNIST: fashionMNIST, limit: limit) { done, total in
            if done == total || done % 500 == 0 {
                Terminal.status(String(format: "edges2fashion %dpx: %d/%d pairs (%.0f%%)", size, done, total, 100 * Double(done) / Double(total)))
            }
        }
        Terminal.line(String(format: "wrote edges2fashion at %d px to %@ (train/, test/, recipe.json) in %.0f s", size, out, Date().timeIntervalSince(start)))
    }
}

struct FabricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fabrics",
        abstract: "Unpaired fabric domains for CycleGAN: plain garments and garments in a real texture.",
        discussion: """
        Writes junyanz's unaligned layout: trainA/ and trainB/ (30,000 garments each, from Fashion-MNIST's \
        training split) and testA/ and testB/ (5,000 each, from its test split), A and B from different garments. \
        A shows a garment in one plain colour (a random hue), B the garment filled with a real photographic \
        texture from GIMP's patterns (the gimp-data package, /usr/share/gimp/2.0/patterns) at a random offset \
        and scale; both keep the garment's shading and lie on white. `--pattern list` shows the textures. \
        Train on it with `atelier train --model cyclegan --dataroot DIR`.
        """
    )

    @Option(help: "A GIMP pattern by name (leopard, leather, burlap, pink_marble, walnut, ...) or 'list'.")
    var pattern: String

    @Option(help: "Folder to write (created if missing).")
    var out: String?

    @Option(parsing: .unconditional, help: "Side of the pictures in pixels: 32, 64, 128 or 256.")
    var size = 64

    @Option(parsing: .unconditional, help: "Only the first N garments of each folder (quick trials).")
    var limit: Int?

    @Option(parsing: .unconditional, help: "Seed of the colours, offsets and scales.")
    var seed: UInt64 = 0

    @Option(name: .customLong("fashion-mnist"), help: "Folder of the Fashion-MNIST IDX files.")
    var fashionMNIST = FashionMNIST.defaultDirectory

    @Option(name: .customLong("patterns"), help: "Folder of GIMP .pat files.")
    var patterns = GimpPattern.defaultDirectory

    func validate() throws {
        guard Fabrics.sizes.contains(size) else {
            throw ValidationError("--size \(size): choose one of \(Fabrics.sizes.map(String.init).joined(separator: ", "))")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if pattern != "list" && (out ?? "").isEmpty { throw ValidationError("--out needs a folder name") }
    }

    func run() throws {
        if pattern == "list" {
            let names = try GimpPattern.list(patterns)
            for name in names {
                let size = (try? GimpPattern.read((patterns as NSString).appendingPathComponent(name + ".pat")).picture).map { "\($0.width)x\($0.height)" } ?? "unreadable"
                print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(size)")
            }
            print("\(names.count) patterns in \(patterns)")
            return
        }
        let maker = try Fabrics(size: size, pattern: pattern, directory: patterns)
        let out = self.out!
        let start = Date()
        try maker.write(to: out, fashionMNIST: fashionMNIST, limit: limit, seed: seed) { done, total in
            if done == total || done % 500 == 0 {
                Terminal.status(String(format: "fabrics (%@) %dpx: %d/%d pictures (%.0f%%)", maker.patternName, self.size, done, total, 100 * Double(done) / Double(total)))
            }
        }
        Terminal.line(String(format: "wrote fabrics (%@) at %d px to %@ (trainA/, trainB/, testA/, testB/, recipe.json) in %.0f s",
                             maker.patternName, size, out, Date().timeIntervalSince(start)))
    }
}
