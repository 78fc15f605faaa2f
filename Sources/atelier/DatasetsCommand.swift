import ArgumentParser
import Atelier
import Foundation

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "Make training sets from data Debian ships.",
        subcommands: [Edges2FashionCommand.self]
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

    @Option(help: "Side of each half in pixels: 32, 64, 128 or 256.")
    var size = 64

    @Option(help: "Only the first N images of each split (quick trials).")
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
