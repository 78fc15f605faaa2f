import ArgumentParser
import Atelier

extension ModelKind: ExpressibleByArgument {}
