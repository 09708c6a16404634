module Main (main) where

main :: IO ()
main = putStrLn "hello from a sandboxer workspace"
